"""LwM2M CBOR (content format 11544, LwM2M 1.2 Core 7.5.4): one CBOR map of nested maps keyed
by path ids from the Object ID down; a key may be an array of ids (a path fragment), and a leaf
is the value as CBOR (60) holds it, time as an integer.

Encoding: definite lengths; each top-level object's chain of single children becomes its key
(`{[3,0,0]: v}`, `{[3,0]: {...}}`), one map per level below it, in path order. That gives the
specification's examples byte for byte. Decoding takes any layout, definite or indefinite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cbor2

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import Node
from ..paths import Lwm2mPath
from ._senml import group_nodes
from ._values import Leaf, build_node, leaves, model_type
from .cbor import guessed_type, item_of, one_item, value_of

MAX_ID = 65535
"""Highest id a path may carry (in a Create, 65535 asks the client to pick one)."""

_Tree = dict[int, Any]
"""Nested path ids down to leaves: {object: {instance: {resource: Leaf | {ri: Leaf}}}}."""


def _head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise CodecError(f"length {length} too large for CBOR")  # pragma: no cover


def _key(ids: list[int]) -> bytes:
    if len(ids) == 1:
        return _head(0, ids[0])
    return _head(4, len(ids)) + b"".join(_head(0, i) for i in ids)


def _leaf(leaf: Leaf) -> bytes:
    # (time as an integer, as the specification's example has it)
    return cbor2.dumps(item_of(leaf.value, leaf.type, leaf.path, time_tag=False), canonical=True)


def _map(tree: _Tree) -> bytes:
    return _head(5, len(tree)) + b"".join(
        _head(0, i) + (_map(child) if isinstance(child, dict) else _leaf(child))
        for i, child in tree.items())  # fmt: skip


def _top(tree: _Tree) -> bytes:
    """The top-level map: each object's chain of single children folded into its key."""
    out = [_head(5, len(tree))]
    for object_id, child in tree.items():
        ids = [object_id]
        while isinstance(child, dict) and len(child) == 1:
            (next_id, child), = child.items()
            ids.append(next_id)
        out.append(_key(ids) + (_map(child) if isinstance(child, dict) else _leaf(child)))
    return b"".join(out)


def _tree(found: list[Leaf]) -> _Tree:
    tree: _Tree = {}
    for leaf in found:
        *parents, last = leaf.path.ids
        level = tree
        for i in parents:
            level = level.setdefault(i, {})
        level[last] = leaf
    return tree


def _walk(item: object, prefix: tuple[int, ...], out: list[tuple[Lwm2mPath, object]]) -> None:
    if not isinstance(item, dict):
        raise CodecError(f"LwM2M CBOR: a map was expected under {_named(prefix)}, "
                         f"not {type(item).__name__}")  # fmt: skip
    for key, value in item.items():
        ids = tuple(key) if isinstance(key, list | tuple) else (key,)  # (cbor2: tuples)
        if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i <= MAX_ID
                              for i in ids):  # fmt: skip
            raise CodecError(f"LwM2M CBOR: key {key!r} under {_named(prefix)} is not an id or "
                             "an array of ids")  # fmt: skip
        path = prefix + ids
        if len(path) > 4:
            raise CodecError(f"LwM2M CBOR: path {_named(path)} is deeper than a resource "
                             "instance")  # fmt: skip
        if isinstance(value, dict):
            _walk(value, path, out)
        elif len(path) < 3:
            raise CodecError(f"LwM2M CBOR: a value at {_named(path)}, above a resource")
        else:
            out.append((Lwm2mPath(path), value))


def _named(ids: tuple[int, ...]) -> str:
    return "/" + "/".join(map(str, ids))


class Lwm2mCborCodec:
    content_format = ContentFormat.LWM2M_CBOR

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        return _top(_tree(list(leaves(node, path))))

    def encode_nodes(self, nodes: Mapping[Lwm2mPath, Node], model: ObjectRegistry) -> bytes:
        """Several nodes in one map (a Read-Composite answer), in their order."""
        return _top(_tree([leaf for path, node in nodes.items() for leaf in leaves(node, path)]))

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        return build_node(path, self._leaves(data, model), model)

    def decode_nodes(self, data: bytes, model: ObjectRegistry, paths: Iterable[Lwm2mPath]
                     | None = None) -> dict[Lwm2mPath, Node]:  # fmt: skip
        """Nodes of a composite payload, grouped under `paths` if given (as SenML's)."""
        return group_nodes(self._leaves(data, model), model, paths)

    def _leaves(self, data: bytes, model: ObjectRegistry) -> list[Leaf]:
        item = one_item(data, "LwM2M CBOR payload")
        values: list[tuple[Lwm2mPath, object]] = []
        _walk(item, (), values)
        found = []
        for leaf_path, value in values:
            if value is None:
                raise CodecError(f"LwM2M CBOR: {leaf_path} is null; deleting through a write "
                                 "is not supported")  # fmt: skip
            type_ = model_type(model, leaf_path) or guessed_type(value)
            found.append(Leaf(leaf_path, type_, value_of(value, type_, leaf_path)))
        return found


LWM2M_CBOR = Lwm2mCborCodec()
