"""application/cbor (content format 60): one resource or resource instance value as one CBOR
data item (LwM2M 1.1 Core 7.4.6).

Integers as CBOR integers, floats in the shortest precision that holds them exactly (RFC 8949
4.2.2), booleans as simple values, strings and core links as text, object links as "O:I" text,
opaque values as byte strings, time as tag 1 over integer seconds. A time decodes from tag 1 or
a bare number, a float from any number.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

import cbor2

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import Node, ObjectLink, ResourceType, Value
from ..paths import Lwm2mPath
from ._values import (
    check_int,
    check_value,
    model_type,
    parse_objlnk,
    seconds_to_time,
    single_value,
    single_value_path,
    time_to_seconds,
    value_node,
)

EPOCH_TAG = 1
"""RFC 8949 3.4.2: epoch-based date/time."""


def one_item(data: bytes, what: str) -> object:
    """The one CBOR data item `data` holds; CodecError naming `what` otherwise."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CodecError(f"{what} is not CBOR: {exc}") from None
    if stream.tell() != len(data):
        raise CodecError(f"{what} has {len(data) - stream.tell()} trailing bytes")
    return item


def item_of(value: Value, type_: ResourceType, path: Lwm2mPath, *,
            time_tag: bool = True) -> object:  # fmt: skip
    """The CBOR data item of one LwM2M value; time is tag 1 over seconds (bare: `time_tag`
    false)."""
    value = check_value(value, type_, path)
    match type_:
        case ResourceType.TIME:
            seconds = time_to_seconds(value)  # type: ignore[arg-type]
            return cbor2.CBORTag(EPOCH_TAG, seconds) if time_tag else seconds
        case ResourceType.FLOAT:
            return float(value)  # type: ignore[arg-type]
        case ResourceType.OBJLNK:
            return str(value)
        case ResourceType.OPAQUE | ResourceType.NONE:
            return bytes(value)  # type: ignore[arg-type]
        case _:
            return value


def value_of(item: object, type_: ResourceType, path: Lwm2mPath) -> Value:
    """The LwM2M value of a decoded CBOR item; CodecError if it is not one of `type_`."""
    def invalid() -> CodecError:
        return CodecError(f"{path}: CBOR {type(item).__name__} {str(item)[:40]} is not a "
                          f"valid {type_.value} value")  # fmt: skip

    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            if isinstance(item, str):
                return item
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER:
            if isinstance(item, int) and not isinstance(item, bool):
                return check_int(item, type_, path)
        case ResourceType.FLOAT:
            if isinstance(item, int | float) and not isinstance(item, bool) \
                    and math.isfinite(item):  # fmt: skip
                return float(item)
        case ResourceType.BOOLEAN:
            if isinstance(item, bool):
                return item
        case ResourceType.TIME:
            if isinstance(item, datetime):  # (tag 1, which cbor2 decodes)
                return item if item.tzinfo else item.replace(tzinfo=UTC)
            if isinstance(item, int | float) and not isinstance(item, bool) \
                    and math.isfinite(item):  # fmt: skip
                return seconds_to_time(item, path)
        case ResourceType.OBJLNK:
            if isinstance(item, str):
                link: ObjectLink = parse_objlnk(item, path)
                return link
        case ResourceType.OPAQUE | ResourceType.NONE:
            if isinstance(item, bytes):
                return item
    raise invalid()


class CborCodec:
    content_format = ContentFormat.CBOR

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        node = single_value(node, path, "CBOR (60)")
        return cbor2.dumps(item_of(node.value, node.type, path), canonical=True)

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        single_value_path(path, model, "CBOR (60)")
        item = one_item(data, f"{path}: the CBOR payload")
        type_ = model_type(model, path) or guessed_type(item)
        return value_node(path, type_, value_of(item, type_, path))


def guessed_type(item: object) -> ResourceType:
    """The type of a value of a resource no model describes, from its CBOR major type."""
    match item:
        case bool():
            return ResourceType.BOOLEAN
        case int():
            return ResourceType.INTEGER
        case float():
            return ResourceType.FLOAT
        case bytes():
            return ResourceType.OPAQUE
        case datetime():
            return ResourceType.TIME
        case _:
            return ResourceType.STRING


CBOR = CborCodec()
