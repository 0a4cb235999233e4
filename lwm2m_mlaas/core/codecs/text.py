"""text/plain (content format 0): one resource or resource instance value (LwM2M 1.1 Core 7.4.1).

Integers and time in decimal (time as seconds since the epoch), floats in the shortest form that
reads back exactly, booleans "1"/"0", object links "O:I", opaque values in base64 (RFC 4648).
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import Node, ResourceType, Value
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

_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def format_value(value: Value, type_: ResourceType, path: Lwm2mPath) -> str:
    """The text form of one value (also used for Leshan-style JSON and CLI output)."""
    value = check_value(value, type_, path)
    match type_:
        case ResourceType.BOOLEAN:
            return "1" if value else "0"
        case ResourceType.FLOAT:
            return repr(float(value))  # type: ignore[arg-type]
        case ResourceType.TIME:
            return str(time_to_seconds(value))  # type: ignore[arg-type]
        case ResourceType.OPAQUE | ResourceType.NONE:
            return base64.b64encode(value).decode("ascii")  # type: ignore[arg-type]
        case _:
            return str(value)


def parse_value(text: str, type_: ResourceType, path: Lwm2mPath) -> Value:
    """One value of `type_` from its text form; CodecError if it is not one."""
    stripped = text.strip()

    def invalid() -> CodecError:
        return CodecError(f"{path}: {text[:40]!r} is not a valid {type_.value} value")

    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            return text
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER | ResourceType.TIME:
            if not _INTEGER.fullmatch(stripped):
                raise invalid()
            if type_ is ResourceType.TIME:
                return seconds_to_time(int(stripped), path)
            return check_int(int(stripped), type_, path)
        case ResourceType.FLOAT:
            if not _FLOAT.fullmatch(stripped) or not math.isfinite(number := float(stripped)):
                raise invalid()
            return number
        case ResourceType.BOOLEAN:
            if stripped not in ("0", "1"):
                raise invalid()
            return stripped == "1"
        case ResourceType.OBJLNK:
            return parse_objlnk(stripped, path)
        case ResourceType.OPAQUE | ResourceType.NONE:
            try:
                return base64.b64decode(stripped, validate=True)
            except (binascii.Error, ValueError):
                raise invalid() from None


class TextCodec:
    content_format = ContentFormat.TEXT

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        node = single_value(node, path, "text/plain")
        return format_value(node.value, node.type, path).encode("utf-8")

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        single_value_path(path, model, "text/plain")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"{path}: text/plain payload is not UTF-8 ({exc.reason})") from None
        type_ = model_type(model, path) or ResourceType.STRING
        return value_node(path, type_, parse_value(text, type_, path))


TEXT = TextCodec()
