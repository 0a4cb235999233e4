"""OMA TLV (content format 11542, and 1542 from LwM2M 1.0 drafts): LwM2M 1.1 Core 7.4.3.

Type byte: bits 7-6 identifier kind (00 object instance, 01 resource instance, 10 multiple
resource, 11 resource with value), bit 5 a 16-bit identifier, bits 4-3 the size of the length
field (0-3 bytes), bits 2-0 the length itself when that field is absent.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import (
    Lwm2mObject,
    MultiResource,
    Node,
    ObjectInstance,
    ObjectLink,
    Resource,
    ResourceInstance,
    ResourceType,
    SingleResource,
    Value,
)
from ..paths import Lwm2mPath
from ._values import (
    check_value,
    model_multiple,
    model_type,
    node_path,
    seconds_to_time,
    time_to_seconds,
)


class TlvKind(IntEnum):
    OBJECT_INSTANCE = 0
    RESOURCE_INSTANCE = 1
    MULTIPLE_RESOURCE = 2
    RESOURCE = 3


_CONTAINERS = {TlvKind.OBJECT_INSTANCE, TlvKind.MULTIPLE_RESOURCE}
_CHILD_KINDS = {
    TlvKind.OBJECT_INSTANCE: {TlvKind.MULTIPLE_RESOURCE, TlvKind.RESOURCE},
    TlvKind.MULTIPLE_RESOURCE: {TlvKind.RESOURCE_INSTANCE},
}
_MAX_LENGTH = (1 << 24) - 1


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded TLV; containers (object instance, multiple resource) have children."""

    kind: TlvKind
    id: int
    value: bytes = b""
    children: tuple[Tlv, ...] = ()
    offset: int = 0


# ---- wire level ---------------------------------------------------------------------------


def encode_tlv(kind: TlvKind, identifier: int, content: bytes) -> bytes:
    length = len(content)
    if length > _MAX_LENGTH:
        raise CodecError(f"TLV value of {length} bytes exceeds the 24-bit length field")
    type_byte = kind << 6 | (0x20 if identifier > 0xFF else 0)
    header = bytearray()
    if length < 8:
        type_byte |= length
    else:
        size = 1 if length <= 0xFF else 2 if length <= 0xFFFF else 3
        type_byte |= size << 3
        header += length.to_bytes(size, "big")
    id_bytes = identifier.to_bytes(2 if identifier > 0xFF else 1, "big")
    return bytes([type_byte]) + id_bytes + bytes(header) + content


def parse_tlvs(data: bytes, start: int = 0, end: int | None = None) -> tuple[Tlv, ...]:
    """Every TLV in data[start:end], containers parsed recursively."""
    end = len(data) if end is None else end
    out: list[Tlv] = []
    pos = start
    while pos < end:
        offset = pos
        type_byte = data[pos]
        kind = TlvKind(type_byte >> 6)
        id_size = 2 if type_byte & 0x20 else 1
        length_size = (type_byte >> 3) & 0x03
        header_end = pos + 1 + id_size + length_size
        if header_end > end:
            raise CodecError(f"TLV at byte offset {offset}: header truncated")
        identifier = int.from_bytes(data[pos + 1 : pos + 1 + id_size], "big")
        length = (
            int.from_bytes(data[pos + 1 + id_size : header_end], "big")
            if length_size
            else type_byte & 0x07
        )
        value_end = header_end + length
        if value_end > end:
            raise CodecError(
                f"TLV at byte offset {offset}: length {length} exceeds the "
                f"{end - header_end} remaining bytes"
            )
        if kind in _CONTAINERS:
            children = parse_tlvs(data, header_end, value_end)
            for child in children:
                if child.kind not in _CHILD_KINDS[kind]:
                    raise CodecError(
                        f"TLV at byte offset {child.offset}: a {child.kind.name.lower()} "
                        f"cannot be inside a {kind.name.lower()}"
                    )
            out.append(Tlv(kind, identifier, children=children, offset=offset))
        else:
            out.append(Tlv(kind, identifier, bytes(data[header_end:value_end]), offset=offset))
        pos = value_end
    return tuple(out)


# ---- values -------------------------------------------------------------------------------


def _int_bytes(value: int, signed: bool) -> bytes:
    for size in (1, 2, 4, 8):
        try:
            return value.to_bytes(size, "big", signed=signed)
        except OverflowError:
            continue
    raise CodecError(f"integer {value} does not fit in 8 bytes")


def encode_value(value: Value, type_: ResourceType, path: Lwm2mPath) -> bytes:
    value = check_value(value, type_, path)
    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            return value.encode("utf-8")  # type: ignore[union-attr]
        case ResourceType.INTEGER:
            return _int_bytes(value, signed=True)  # type: ignore[arg-type]
        case ResourceType.UNSIGNED_INTEGER:
            return _int_bytes(value, signed=False)  # type: ignore[arg-type]
        case ResourceType.TIME:
            return _int_bytes(time_to_seconds(value), signed=True)  # type: ignore[arg-type]
        case ResourceType.FLOAT:
            number = float(value)  # type: ignore[arg-type]
            try:
                single = struct.pack(">f", number)
            except OverflowError:
                return struct.pack(">d", number)
            return single if struct.unpack(">f", single)[0] == number else struct.pack(">d", number)
        case ResourceType.BOOLEAN:
            return b"\x01" if value else b"\x00"
        case ResourceType.OBJLNK:
            assert isinstance(value, ObjectLink)
            return struct.pack(">HH", value.object_id, value.instance_id)
        case _:
            return bytes(value)  # type: ignore[arg-type]


def decode_value(tlv: Tlv, type_: ResourceType, path: Lwm2mPath) -> Value:
    data = tlv.value
    size = len(data)

    def invalid(why: str) -> CodecError:
        return CodecError(f"TLV at byte offset {tlv.offset} ({path}, {type_.value}): {why}")

    match type_:
        case ResourceType.STRING | ResourceType.CORELNK:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise invalid(f"not UTF-8 ({exc.reason})") from None
        case ResourceType.INTEGER | ResourceType.UNSIGNED_INTEGER | ResourceType.TIME:
            if size not in (1, 2, 4, 8):
                raise invalid(f"an integer takes 1, 2, 4 or 8 bytes, not {size}")
            number = int.from_bytes(data, "big", signed=type_ is not ResourceType.UNSIGNED_INTEGER)
            return seconds_to_time(number, path) if type_ is ResourceType.TIME else number
        case ResourceType.FLOAT:
            if size not in (4, 8):
                raise invalid(f"a float takes 4 or 8 bytes, not {size}")
            result: float = struct.unpack(">f" if size == 4 else ">d", data)[0]
            return result
        case ResourceType.BOOLEAN:
            if data not in (b"\x00", b"\x01"):
                raise invalid(f"a boolean is one byte 0 or 1, not {data.hex() or 'empty'}")
            return data == b"\x01"
        case ResourceType.OBJLNK:
            if size != 4:
                raise invalid(f"an object link takes 4 bytes, not {size}")
            return ObjectLink(*struct.unpack(">HH", data))
        case _:
            return data


# ---- nodes --------------------------------------------------------------------------------


def _encode_resource(resource: Resource, path: Lwm2mPath) -> bytes:
    if isinstance(resource, SingleResource):
        return encode_tlv(
            TlvKind.RESOURCE, resource.id, encode_value(resource.value, resource.type, path)
        )
    content = b"".join(
        encode_tlv(TlvKind.RESOURCE_INSTANCE, ri, encode_value(v, resource.type, path.child(ri)))
        for ri, v in sorted(resource.instances.items())
    )
    return encode_tlv(TlvKind.MULTIPLE_RESOURCE, resource.id, content)


def _encode_instance(instance: ObjectInstance, path: Lwm2mPath) -> bytes:
    return b"".join(
        _encode_resource(resource, path.child(r))
        for r, resource in sorted(instance.resources.items())
    )


def _resource(tlv: Tlv, path: Lwm2mPath, model: ObjectRegistry) -> Resource:
    type_ = model_type(model, path) or ResourceType.OPAQUE
    if tlv.kind is TlvKind.RESOURCE:
        return SingleResource(tlv.id, type_, decode_value(tlv, type_, path))
    return MultiResource(tlv.id, type_, _instances(tlv.children, path, type_))


def _instances(tlvs: Iterable[Tlv], path: Lwm2mPath, type_: ResourceType) -> dict[int, Value]:
    values: dict[int, Value] = {}
    for tlv in tlvs:
        if tlv.id in values:
            raise CodecError(f"TLV at byte offset {tlv.offset}: duplicate instance {path}/{tlv.id}")
        values[tlv.id] = decode_value(tlv, type_, path.child(tlv.id))
    return values


def _instance(
    instance_id: int, tlvs: Iterable[Tlv], path: Lwm2mPath, model: ObjectRegistry
) -> ObjectInstance:
    resources: dict[int, Resource] = {}
    for tlv in tlvs:
        if tlv.kind not in (TlvKind.RESOURCE, TlvKind.MULTIPLE_RESOURCE):
            raise CodecError(
                f"TLV at byte offset {tlv.offset}: expected a resource in {path}, "
                f"found a {tlv.kind.name.lower()}"
            )
        if tlv.id in resources:
            raise CodecError(f"TLV at byte offset {tlv.offset}: duplicate resource {path}/{tlv.id}")
        resources[tlv.id] = _resource(tlv, path.child(tlv.id), model)
    return ObjectInstance(instance_id, resources)


def _unwrap(
    tlvs: tuple[Tlv, ...], kind: TlvKind, expected_id: int, path: Lwm2mPath
) -> tuple[Tlv, ...]:
    """The children of a lone container TLV of `kind` (with the id the path gives), else `tlvs`."""
    if len(tlvs) == 1 and tlvs[0].kind is kind:
        if tlvs[0].id != expected_id:
            raise CodecError(
                f"TLV at byte offset {tlvs[0].offset}: {kind.name.lower()} {tlvs[0].id} "
                f"does not match {path}"
            )
        return tlvs[0].children
    return tlvs


class TlvCodec:
    def __init__(self, content_format: ContentFormat) -> None:
        self.content_format = content_format

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        target = node_path(node, path)
        match node:
            case Lwm2mObject(instances=instances):
                return b"".join(
                    encode_tlv(TlvKind.OBJECT_INSTANCE, i, _encode_instance(inst, target.child(i)))
                    for i, inst in sorted(instances.items())
                )
            case ObjectInstance():
                content = _encode_instance(node, target)
                if path.is_object:  # an instance sent to its object (Create): wrap it
                    return encode_tlv(TlvKind.OBJECT_INSTANCE, node.id, content)
                return content
            case SingleResource() | MultiResource():
                return _encode_resource(node, target)
            case ResourceInstance(id=ri, type=type_, value=value):
                return encode_tlv(TlvKind.RESOURCE_INSTANCE, ri, encode_value(value, type_, target))
        raise CodecError(f"cannot encode {type(node).__name__} as TLV")

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        if path.is_root:
            raise CodecError("TLV cannot be decoded at the root path")
        tlvs = parse_tlvs(data)
        if path.is_object:
            instances: dict[int, ObjectInstance] = {}
            for tlv in tlvs:
                if tlv.kind is not TlvKind.OBJECT_INSTANCE:
                    raise CodecError(
                        f"TLV at byte offset {tlv.offset}: expected an object instance in {path}, "
                        f"found a {tlv.kind.name.lower()}"
                    )
                if tlv.id in instances:
                    raise CodecError(
                        f"TLV at byte offset {tlv.offset}: duplicate instance {tlv.id}"
                    )
                instances[tlv.id] = _instance(tlv.id, tlv.children, path.child(tlv.id), model)
            return Lwm2mObject(path.ids[0], instances)
        tlvs = _unwrap(tlvs, TlvKind.OBJECT_INSTANCE, path.ids[1], path)
        if path.is_object_instance:
            return _instance(path.ids[1], tlvs, path, model)
        if path.is_resource:
            if len(tlvs) == 1 and tlvs[0].kind in (TlvKind.RESOURCE, TlvKind.MULTIPLE_RESOURCE):
                if tlvs[0].id != path.ids[2]:
                    raise CodecError(
                        f"TLV at byte offset {tlvs[0].offset}: resource {tlvs[0].id} "
                        f"does not match {path}"
                    )
                return _resource(tlvs[0], path, model)
            if all(t.kind is TlvKind.RESOURCE_INSTANCE for t in tlvs) and (
                tlvs or model_multiple(model, path)
            ):
                type_ = model_type(model, path) or ResourceType.OPAQUE
                return MultiResource(path.ids[2], type_, _instances(tlvs, path, type_))
            raise CodecError(f"TLV payload does not hold a value for the resource {path}")
        tlvs = _unwrap(tlvs, TlvKind.MULTIPLE_RESOURCE, path.ids[2], path)
        if (
            len(tlvs) != 1
            or tlvs[0].kind is not TlvKind.RESOURCE_INSTANCE
            or tlvs[0].id != path.ids[3]
        ):
            raise CodecError(f"TLV payload does not hold the resource instance {path}")
        type_ = model_type(model, path) or ResourceType.OPAQUE
        return ResourceInstance(path.ids[3], type_, decode_value(tlvs[0], type_, path))


TLV = TlvCodec(ContentFormat.TLV)
OLD_TLV = TlvCodec(ContentFormat.OLD_TLV)
