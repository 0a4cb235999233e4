"""What every codec shares: type look-up in the model, value checks and conversions, and the
flattening of nodes into (path, type, value) leaves and back."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ResourceInstance,
    ResourceType,
    SingleResource,
    Value,
)
from ..paths import Lwm2mPath

INT64_MIN, INT64_MAX, UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
_OBJLNK = re.compile(r"(\d{1,5}):(\d{1,5})")


class Leaf(NamedTuple):
    """One value at a resource (/O/I/R) or resource instance (/O/I/R/RI) path."""

    path: Lwm2mPath
    type: ResourceType
    value: Value


def model_type(model: ObjectRegistry, path: Lwm2mPath) -> ResourceType | None:
    if path.resource_id is None:
        return None
    resource = model.resource(path.ids[0], path.resource_id)
    return resource.type if resource else None


def model_multiple(model: ObjectRegistry, path: Lwm2mPath) -> bool | None:
    if path.resource_id is None:
        return None
    resource = model.resource(path.ids[0], path.resource_id)
    return resource.multiple if resource else None


# ---- values -------------------------------------------------------------------------------


def check_value(value: object, type_: ResourceType, path: Lwm2mPath) -> Value:
    """The value if it is a valid Python value of `type_`, else CodecError (for encoders)."""
    ok: bool
    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            ok = isinstance(value, str)
        case ResourceType.INTEGER:
            ok = _is_int(value) and INT64_MIN <= value <= INT64_MAX  # type: ignore[operator]
        case ResourceType.UNSIGNED_INTEGER:
            ok = _is_int(value) and 0 <= value <= UINT64_MAX  # type: ignore[operator]
        case ResourceType.FLOAT:
            ok = (isinstance(value, float) and math.isfinite(value)) or _is_int(value)
        case ResourceType.BOOLEAN:
            ok = isinstance(value, bool)
        case ResourceType.OPAQUE | ResourceType.NONE:
            ok = isinstance(value, bytes | bytearray)
        case ResourceType.TIME:
            ok = isinstance(value, datetime) and value.tzinfo is not None
        case ResourceType.OBJLNK:
            ok = isinstance(value, ObjectLink)
    if not ok:
        raise CodecError(f"{path}: {value!r} is not a valid {type_.value} value")
    return value  # type: ignore[return-value]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def time_to_seconds(value: datetime) -> int:
    return math.floor(value.timestamp())


def seconds_to_time(seconds: float, path: Lwm2mPath) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise CodecError(f"{path}: time {seconds} is out of range") from None


def parse_objlnk(text: str, path: Lwm2mPath) -> ObjectLink:
    match = _OBJLNK.fullmatch(text)
    if not match or int(match[1]) > 65535 or int(match[2]) > 65535:
        raise CodecError(f"{path}: {text!r} is not an object link 'O:I' (0..65535)")
    return ObjectLink(int(match[1]), int(match[2]))


def check_int(value: int, type_: ResourceType, path: Lwm2mPath) -> int:
    low, high = (
        (0, UINT64_MAX) if type_ is ResourceType.UNSIGNED_INTEGER else (INT64_MIN, INT64_MAX)
    )
    if not low <= value <= high:
        shown = value if value.bit_length() <= 128 else f"a {value.bit_length()}-bit integer"
        raise CodecError(f"{path}: {shown} is out of range for {type_.value}")
    return value


# ---- nodes <-> leaves ---------------------------------------------------------------------


_DEPTH = {
    Lwm2mObject: 1,
    ObjectInstance: 2,
    SingleResource: 3,
    MultiResource: 3,
    ResourceInstance: 4,
}


def node_path(node: Node, path: Lwm2mPath) -> Lwm2mPath:
    """The path of `node` given for request `path`: the same path, or for an object instance
    sent to its object's path (Create), the instance path. CodecError if they do not fit."""
    if isinstance(node, ObjectInstance) and path.is_object:
        path = path.child(node.id)
    if len(path.ids) != _DEPTH[type(node)] or path.ids[-1] != node.id:
        raise CodecError(f"a {type(node).__name__} with id {node.id} cannot be encoded at {path}")
    return path


def leaves(node: Node, path: Lwm2mPath) -> Iterator[Leaf]:
    """The values of `node` (for request `path`, see `node_path`) in path order."""
    yield from _leaves(node, node_path(node, path))


def _leaves(node: Node, path: Lwm2mPath) -> Iterator[Leaf]:
    match node:
        case Lwm2mObject(instances=children) | ObjectInstance(resources=children):
            for child_id in sorted(children):
                yield from _leaves(children[child_id], path.child(child_id))
        case MultiResource(type=type_, instances=values):
            for ri in sorted(values):
                child = path.child(ri)
                yield Leaf(child, type_, check_value(values[ri], type_, child))
        case SingleResource(type=type_, value=value) | ResourceInstance(type=type_, value=value):
            yield Leaf(path, type_, check_value(value, type_, path))


def build_node(
    path: Lwm2mPath, found: Iterable[Leaf], model: ObjectRegistry, *, allow_duplicates: bool = False
) -> Node:
    """The node at `path` holding `found` (leaves at or below `path`).

    Duplicate paths are refused unless `allow_duplicates` (then the last one wins).
    """
    if path.is_root:
        raise CodecError("a payload cannot be decoded into a single node at the root path")
    tree: dict[int, dict[int, dict[int, Leaf | dict[int, Leaf]]]] = {}
    for leaf in found:
        if not leaf.path.startswith(path) or len(leaf.path.ids) < 3:
            raise CodecError(f"value at {leaf.path} does not belong under {path}")
        o, i, r, *rest = leaf.path.ids
        resources = tree.setdefault(o, {}).setdefault(i, {})
        slot = resources.get(r)
        if rest:
            if isinstance(slot, Leaf):
                raise CodecError(f"{leaf.path.parent} is both a single and a multiple resource")
            instances = resources.setdefault(r, {})
            assert isinstance(instances, dict)
            if rest[0] in instances and not allow_duplicates:
                raise CodecError(f"duplicate value for {leaf.path}")
            instances[rest[0]] = leaf
        else:
            if isinstance(slot, dict):
                raise CodecError(f"{leaf.path} is both a single and a multiple resource")
            if slot is not None and not allow_duplicates:
                raise CodecError(f"duplicate value for {leaf.path}")
            resources[r] = leaf

    def resource(o: int, r: int, content: Leaf | dict[int, Leaf]) -> SingleResource | MultiResource:
        if isinstance(content, Leaf):
            return SingleResource(r, content.type, content.value)
        first = next(iter(content.values()))
        for leaf in content.values():
            if leaf.type is not first.type:
                raise CodecError(f"{leaf.path}: instances of one resource have different types")
        return MultiResource(r, first.type, {ri: leaf.value for ri, leaf in content.items()})

    def instance(o: int, i: int) -> ObjectInstance:
        resources = tree.get(o, {}).get(i, {})
        return ObjectInstance(i, {r: resource(o, r, c) for r, c in sorted(resources.items())})

    ids = path.ids
    if len(ids) == 1:
        return Lwm2mObject(ids[0], {i: instance(ids[0], i) for i in sorted(tree.get(ids[0], {}))})
    if len(ids) == 2:
        return instance(*ids)
    content = tree.get(ids[0], {}).get(ids[1], {}).get(ids[2])
    if len(ids) == 4:
        assert content is None or isinstance(content, dict)
        if not content:
            raise CodecError(f"no value for {path}")
        leaf = content[ids[3]]
        return ResourceInstance(ids[3], leaf.type, leaf.value)
    if content is None:
        if model_multiple(model, path):
            return MultiResource(ids[2], model_type(model, path) or ResourceType.OPAQUE, {})
        raise CodecError(f"no value for {path}")
    return resource(ids[0], ids[2], content)


def single_value_path(path: Lwm2mPath, model: ObjectRegistry, carrier: str) -> None:
    """CodecError unless `path` is a single resource or resource instance, whose value alone a
    `carrier` payload (text/plain, CBOR) holds."""
    if len(path.ids) < 3:
        raise CodecError(f"{carrier} carries one value, {path} is not a resource path")
    if path.is_resource and model_multiple(model, path):
        raise CodecError(f"{carrier} cannot carry the multiple resource {path}")


def value_node(path: Lwm2mPath, type_: ResourceType, value: Value) -> Node:
    """The node of one decoded value at a resource or resource instance path."""
    if path.is_resource:
        return SingleResource(path.ids[-1], type_, value)
    return ResourceInstance(path.ids[-1], type_, value)


def single_value(node: Node, path: Lwm2mPath, carrier: str) -> SingleResource | ResourceInstance:
    """`node`, checked to be the one value a `carrier` payload holds, at `path`."""
    if not isinstance(node, SingleResource | ResourceInstance):
        raise CodecError(f"{carrier} carries one value, not a {type(node).__name__}")
    node_path(node, path)
    return node
