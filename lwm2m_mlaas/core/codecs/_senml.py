"""SenML (RFC 8428) as LwM2M 1.1 Core 7.4.4/7.4.5 uses it, independent of JSON or CBOR.

A record is a dict with the RFC's string labels ("bn", "n", "v", "vs", "vb", "vd", "vlo", "t",
"bt"); "vd" holds bytes. The JSON and CBOR modules only translate records to and from the wire.
Names are LwM2M paths: the base name (sticky until the next "bn") followed by the name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias

from ..content_format import ContentFormat
from ..errors import CodecError, InvalidPath
from ..model import ObjectRegistry
from ..nodes import Node, ResourceInstance, ResourceType, SingleResource, Value
from ..paths import Lwm2mPath
from ._values import (
    Leaf,
    build_node,
    check_int,
    leaves,
    model_type,
    node_path,
    parse_objlnk,
    seconds_to_time,
    time_to_seconds,
)

Record: TypeAlias = dict[str, Any]
VALUE_LABELS = ("v", "vs", "vb", "vd", "vlo")


class Entry(NamedTuple):
    """A record with its name and time resolved against the base values before it."""

    position: int
    path: Lwm2mPath
    label: str | None
    value: object
    time: float


# ---- encoding -----------------------------------------------------------------------------


def value_label(type_: ResourceType, value: Value) -> tuple[str, object]:
    """The SenML label and wire value of one (already checked) LwM2M value."""
    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            return "vs", value
        case ResourceType.FLOAT:
            return "v", float(value)  # type: ignore[arg-type]
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER:
            return "v", value
        case ResourceType.TIME:
            return "v", time_to_seconds(value)  # type: ignore[arg-type]
        case ResourceType.BOOLEAN:
            return "vb", value
        case ResourceType.OBJLNK:
            return "vlo", str(value)
        case _:
            return "vd", bytes(value)  # type: ignore[arg-type]


def node_records(node: Node, path: Lwm2mPath) -> list[Record]:
    """Records for `node`; the first carries the base name (the node's path, with a trailing
    slash unless the node is a single value), the others only their relative names."""
    target = node_path(node, path)
    base = str(target) if isinstance(node, SingleResource | ResourceInstance) else f"{target}/"
    records: list[Record] = []
    for leaf in leaves(node, path):
        record: Record = {"bn": base} if not records else {}
        name = str(leaf.path)[len(base) :]
        if name:
            record["n"] = name
        label, value = value_label(leaf.type, leaf.value)
        record[label] = value
        records.append(record)
    return records


# ---- decoding -----------------------------------------------------------------------------


def _number(value: object, what: str, index: int) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"SenML record {index}: {what} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CodecError(f"SenML record {index}: {what} {value!r} is not finite")
    return value


def resolve(records: object) -> list[Entry]:
    """Resolve base name, base time and base value of every record (RFC 8428 4.6)."""
    if not isinstance(records, list):
        raise CodecError(f"SenML payload is a {type(records).__name__}, expected an array")
    base_name, base_time, base_value = "", 0.0, 0.0
    out: list[Entry] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise CodecError(f"SenML record {index} is a {type(record).__name__}, not a map")
        for key in record:
            if isinstance(key, str) and key.endswith("_"):
                raise CodecError(f"SenML record {index}: unsupported must-understand label {key!r}")
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise CodecError(f"SenML record {index}: base name is not a string")
            base_name = record["bn"]
        if "bt" in record:
            base_time = _number(record["bt"], "base time", index)
        if "bv" in record:
            base_value = _number(record["bv"], "base value", index)
        name = record.get("n", "")
        if not isinstance(name, str):
            raise CodecError(f"SenML record {index}: name is not a string")
        full = base_name + name
        if not full.startswith("/"):
            raise CodecError(f"SenML record {index}: name {full!r} is not an LwM2M path")
        try:
            path = Lwm2mPath.parse(full)
        except InvalidPath as exc:
            raise CodecError(f"SenML record {index}: {exc}") from None
        labels = [label for label in VALUE_LABELS if label in record]
        if len(labels) > 1:
            raise CodecError(f"SenML record {index} ({path}) has several values {labels}")
        label = labels[0] if labels else None
        value = record[label] if label else None
        if label == "v":
            value = _number(value, "value", index)
            if base_value:
                value += base_value
        time = base_time + _number(record.get("t", 0), "time", index)
        out.append(Entry(index, path, label, value, time))
    return out


_LABEL_OF = {
    ResourceType.STRING: "vs",
    ResourceType.CORELNK: "vs",
    ResourceType.INTEGER: "v",
    ResourceType.UNSIGNED_INTEGER: "v",
    ResourceType.FLOAT: "v",
    ResourceType.TIME: "v",
    ResourceType.BOOLEAN: "vb",
    ResourceType.OPAQUE: "vd",
    ResourceType.OBJLNK: "vlo",
}
_TYPE_OF = {"vs": ResourceType.STRING, "vb": ResourceType.BOOLEAN, "vd": ResourceType.OPAQUE}
_PYTHON_TYPE = {"vs": str, "vb": bool, "vd": bytes, "vlo": str}


def to_leaf(entry: Entry, model: ObjectRegistry) -> Leaf:
    """The typed value of one record: the model's type, or the one its value label implies."""
    path, label, value = entry.path, entry.label, entry.value
    if label is None:
        raise CodecError(f"SenML record {entry.position} ({path}) has no value")
    type_ = model_type(model, path)
    if type_ is None or type_ is ResourceType.NONE:
        if label == "v":
            type_ = ResourceType.INTEGER if isinstance(value, int) else ResourceType.FLOAT
        else:
            type_ = _TYPE_OF.get(label, ResourceType.OBJLNK)
    expected = _LABEL_OF[type_]
    if label != expected:
        raise CodecError(
            f"SenML record {entry.position} ({path}): a {type_.value} value belongs in "
            f"{expected!r}, found {label!r}"
        )
    if label != "v":
        if not isinstance(value, _PYTHON_TYPE[label]):
            raise CodecError(
                f"SenML record {entry.position} ({path}): {label!r} holds {value!r}, "
                f"not a {_PYTHON_TYPE[label].__name__}"
            )
        if label == "vlo":
            return Leaf(path, type_, parse_objlnk(value, path))  # type: ignore[arg-type]
        return Leaf(path, type_, value)  # type: ignore[arg-type]
    assert isinstance(value, int | float)
    if type_ is ResourceType.FLOAT:
        return Leaf(path, type_, float(value))
    if type_ is ResourceType.TIME:
        return Leaf(path, type_, seconds_to_time(value, path))
    if isinstance(value, float):
        if not value.is_integer():
            raise CodecError(f"SenML record {entry.position} ({path}): {value} is not an integer")
        value = int(value)
    return Leaf(path, type_, check_int(value, type_, path))


def to_leaves(entries: Iterable[Entry], model: ObjectRegistry) -> list[Leaf]:
    """Typed values; where one path has several records the newest one (by time) wins."""
    newest: dict[Lwm2mPath, tuple[Entry, Leaf]] = {}
    for entry in entries:
        leaf = to_leaf(entry, model)
        previous = newest.get(entry.path)
        if previous is not None and previous[0].time == entry.time:
            raise CodecError(f"SenML record {entry.position}: duplicate value for {entry.path}")
        if previous is None or entry.time > previous[0].time:
            newest[entry.path] = (entry, leaf)
    return [leaf for _, leaf in sorted(newest.values(), key=lambda pair: pair[0].position)]


def group_nodes(
    found: Sequence[Leaf], model: ObjectRegistry, paths: Iterable[Lwm2mPath] | None
) -> dict[Lwm2mPath, Node]:
    """Nodes keyed by path: one per requested path that has values (the root: one object node
    per object), or without `paths` one per record (a SingleResource or ResourceInstance at the
    record's own path)."""
    if paths is None:
        return {leaf.path: build_node(leaf.path, [leaf], model) for leaf in found}
    requested = list(paths)
    for leaf in found:
        if not any(leaf.path.startswith(p) for p in requested):
            raise CodecError(f"value at {leaf.path} is not under any requested path")
    out: dict[Lwm2mPath, Node] = {}
    for path in requested:
        if path.is_root:
            for o in sorted({leaf.path.ids[0] for leaf in found}):
                out[Lwm2mPath.of(o)] = build_node(Lwm2mPath.of(o), [
                    leaf for leaf in found if leaf.path.ids[0] == o], model)  # fmt: skip
            continue
        under = [leaf for leaf in found if leaf.path.startswith(path)]
        if under:
            out[path] = build_node(path, under, model)
    return out


class SenmlCodec:
    """SenML in one serialization; `dumps`/`loads` translate label-keyed records to the wire."""

    def __init__(
        self,
        content_format: ContentFormat,
        dumps: Callable[[list[Record]], bytes],
        loads: Callable[[bytes], object],
    ) -> None:
        self.content_format = content_format
        self._dumps = dumps
        self._loads = loads

    def _entries(self, data: bytes) -> list[Entry]:
        return resolve(self._loads(data)) if data.strip() else []

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        return self._dumps(node_records(node, path))

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        return build_node(path, to_leaves(self._entries(data), model), model)

    def encode_nodes(self, nodes: Mapping[Lwm2mPath, Node], model: ObjectRegistry) -> bytes:
        """Several nodes in one pack (Read-Composite answers, Write-Composite, notifications)."""
        return self._dumps([r for path, node in nodes.items() for r in node_records(node, path)])

    def decode_nodes(
        self, data: bytes, model: ObjectRegistry, paths: Iterable[Lwm2mPath] | None = None
    ) -> dict[Lwm2mPath, Node]:
        """Nodes of a composite payload, grouped under `paths` if given (see `group_nodes`)."""
        return group_nodes(to_leaves(self._entries(data), model), model, paths)

    def encode_paths(self, paths: Iterable[Lwm2mPath]) -> bytes:
        """A Read-Composite / Observe-Composite request body: one name-only record per path."""
        return self._dumps([{"n": str(path)} for path in paths])

    def decode_paths(self, data: bytes) -> tuple[Lwm2mPath, ...]:
        out: list[Lwm2mPath] = []
        for entry in self._entries(data):
            if entry.label is not None or entry.time:
                raise CodecError(
                    f"SenML record {entry.position} ({entry.path}): a path carries no value"
                )
            out.append(entry.path)
        return tuple(out)
