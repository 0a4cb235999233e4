"""OMA TLV. The hex payloads are the examples of OMA LwM2M TS 1.1 Core 7.4.3 (unchanged from
1.0 6.4.3): 7.4.3.1 "Single Object Instance Request Example" (Read /3/0), 7.4.3.2 "Multiple Object
Instance Request Examples" A) Read /3, B) Read /2 (Access Control), C) Read /1 (Server), and 7.4.3.3
"Example of Request on an Object Instance containing an Object Link Resource" (objects 65 and 66).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import CODECS, codec_for
from lwm2m_mlaas.core.codecs.tlv import TLV, TlvKind, encode_tlv, parse_tlvs
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError, ResponseCode
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
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
from lwm2m_mlaas.core.paths import Lwm2mPath

from .conftest import ALL_TYPES, TYPES_OBJECT, device_instance

T = ResourceType
P = Lwm2mPath.parse

# 7.4.3.1: Read /3/0, the resources of the Device instance without an instance TLV
DEVICE_RESOURCES = bytes.fromhex(
    "C800144F70656E204D6F62696C6520416C6C69616E6365"  # 0 Manufacturer
    "C801164C69676874776569676874204D324D20436C69656E74"  # 1 Model Number
    "C80209333435303030313233"  # 2 Serial Number
    "C303312E30"  # 3 Firmware Version
    "86064100014101 05"  # 6 Available Power Sources {0: 1, 1: 5}
    "88070842000ED842011388"  # 7 Power Source Voltage {0: 3800, 1: 5000}
    "870841007D42010384"  # 8 Power Source Current {0: 125, 1: 900}
    "C10964"  # 9 Battery Level
    "C10A0F"  # 10 Memory Free
    "830B410000"  # 11 Error Code {0: 0}
    "C40D5182428F"  # 13 Current Time 1367491215
    "C60E2B30323A3030"  # 14 UTC Offset
    "C11055"  # 16 Supported Binding and Modes "U"
)
# 7.4.3.2 A): Read /3, the same resources inside an object instance TLV
DEVICE_OBJECT = bytes.fromhex("080079") + DEVICE_RESOURCES
# 7.4.3.2 B): Read /2, two Access Control instances
ACL_OBJECT = bytes.fromhex(
    "08000EC10001C101008302417F07C1037F080212C10003C101008702417F0761013601C1037F"
)
# 7.4.3.2 C): Read /1, one Server instance
SERVER_OBJECT = bytes.fromhex("08000FC10001C40100015180C10601C10755")
# 7.4.3.3: Read /65/0 and Read /66
OBJ65_INSTANCE = bytes.fromhex(
    "88000C440000420000440100420001C8010D38363133383030373535353030C40212345678"
)
OBJ66_OBJECT = bytes.fromhex(
    "080026C8000B6D79536572766963652031C8010F496E7465726E65742E31352E323334C40200430000"
    "080126C8000B6D79536572766963652032C8010F496E7465726E65742E31352E323335C402FFFFFFFF"
)

ACL = Lwm2mObject.of(
    2,
    ObjectInstance.of(
        0,
        SingleResource(0, T.INTEGER, 1),
        SingleResource(1, T.INTEGER, 0),
        MultiResource(2, T.INTEGER, {127: 7}),
        SingleResource(3, T.INTEGER, 127),
    ),
    ObjectInstance.of(
        2,
        SingleResource(0, T.INTEGER, 3),
        SingleResource(1, T.INTEGER, 0),
        MultiResource(2, T.INTEGER, {127: 7, 310: 1}),
        SingleResource(3, T.INTEGER, 127),
    ),
)
SERVER = Lwm2mObject.of(
    1,
    ObjectInstance.of(
        0,
        SingleResource(0, T.INTEGER, 1),
        SingleResource(1, T.INTEGER, 86400),
        SingleResource(6, T.BOOLEAN, True),
        SingleResource(7, T.STRING, "U"),
    ),
)
OBJ65 = ObjectInstance.of(
    0,
    MultiResource(0, T.OBJLNK, {0: ObjectLink(66, 0), 1: ObjectLink(66, 1)}),
    SingleResource(1, T.STRING, "8613800755500"),
    SingleResource(2, T.INTEGER, 0x12345678),
)
OBJ66 = Lwm2mObject.of(
    66,
    ObjectInstance.of(
        0,
        SingleResource(0, T.STRING, "myService 1"),
        SingleResource(1, T.STRING, "Internet.15.234"),
        SingleResource(2, T.OBJLNK, ObjectLink(67, 0)),
    ),
    ObjectInstance.of(
        1,
        SingleResource(0, T.STRING, "myService 2"),
        SingleResource(1, T.STRING, "Internet.15.235"),
        SingleResource(2, T.OBJLNK, ObjectLink(65535, 65535)),
    ),
)

SPEC_EXAMPLES = [
    pytest.param(DEVICE_RESOURCES, "/3/0", device_instance(), id="7.4.3.1-device-instance"),
    pytest.param(DEVICE_OBJECT, "/3", Lwm2mObject.of(3, device_instance()), id="7.4.3.2A-device"),
    pytest.param(ACL_OBJECT, "/2", ACL, id="7.4.3.2B-acl"),
    pytest.param(SERVER_OBJECT, "/1", SERVER, id="7.4.3.2C-server"),
    pytest.param(OBJ65_INSTANCE, "/65/0", OBJ65, id="7.4.3.3-obj65"),
    pytest.param(OBJ66_OBJECT, "/66", OBJ66, id="7.4.3.3-obj66"),
]


@pytest.mark.parametrize(("payload", "path", "node"), SPEC_EXAMPLES)
def test_spec_example_decodes(
    payload: bytes, path: str, node: object, model: ObjectRegistry
) -> None:
    assert TLV.decode(payload, P(path), model) == node


@pytest.mark.parametrize(("payload", "path", "node"), SPEC_EXAMPLES)
def test_spec_example_encodes_to_the_same_bytes(
    payload: bytes, path: str, node: Node, model: ObjectRegistry
) -> None:
    assert TLV.encode(node, P(path), model) == payload


def test_instance_wrapped_for_its_object_path(model: ObjectRegistry) -> None:
    # Create on /3 carries the instance TLV (the 7.4.3.2 A) bytes); a Read of /3/0 wrapped
    # that way by a client is accepted too.
    assert TLV.encode(device_instance(), P("/3"), model) == DEVICE_OBJECT
    assert TLV.decode(DEVICE_OBJECT, P("/3/0"), model) == device_instance()


def test_multiple_resource_and_resource_instance(model: ObjectRegistry) -> None:
    # 7.4.3: "Request on a Multiple Resource": /3/0/6 -> 86 06 41 00 01 41 01 05
    power = MultiResource(6, T.INTEGER, {0: 1, 1: 5})
    assert TLV.encode(power, P("/3/0/6"), model) == bytes.fromhex("860641000141 0105")
    assert TLV.decode(bytes.fromhex("8606410001410105"), P("/3/0/6"), model) == power
    # some clients leave out the multiple resource TLV
    assert TLV.decode(bytes.fromhex("410001410105"), P("/3/0/6"), model) == power
    instance = ResourceInstance(1, T.INTEGER, 5)
    assert TLV.encode(instance, P("/3/0/6/1"), model) == bytes.fromhex("410105")
    assert TLV.decode(bytes.fromhex("410105"), P("/3/0/6/1"), model) == instance
    assert TLV.decode(bytes.fromhex("8306410105"), P("/3/0/6/1"), model) == instance


def test_single_resource(model: ObjectRegistry) -> None:
    battery = SingleResource(9, T.INTEGER, 100)
    assert TLV.encode(battery, P("/3/0/9"), model) == bytes.fromhex("C10964")
    assert TLV.decode(bytes.fromhex("C10964"), P("/3/0/9"), model) == battery
    # wrapped in its object instance TLV (seen from some clients)
    assert TLV.decode(bytes.fromhex("080003C10964"), P("/3/0/9"), model) == battery


def test_empty_payloads(model: ObjectRegistry) -> None:
    assert TLV.decode(b"", P("/1"), model) == Lwm2mObject(1)
    assert TLV.decode(b"", P("/3/0"), model) == ObjectInstance(0)
    assert TLV.decode(b"", P("/3/0/7"), model) == MultiResource(7, T.INTEGER)
    assert TLV.encode(MultiResource(7, T.INTEGER), P("/3/0/7"), model) == b"\x80\x07"


@pytest.mark.parametrize(
    ("value", "hex_"),
    [
        (0, "00"),
        (127, "7F"),
        (-128, "80"),
        (128, "0080"),
        (-129, "FF7F"),
        (32767, "7FFF"),
        (32768, "00008000"),
        (2**31 - 1, "7FFFFFFF"),
        (2**31, "0000000080000000"),
        (-(2**63), "8000000000000000"),
    ],
)
def test_integer_takes_the_shortest_of_1_2_4_8_bytes(
    value: int, hex_: str, model: ObjectRegistry
) -> None:
    tlv = encode_tlv(TlvKind.RESOURCE, 1, bytes.fromhex(hex_))
    node = SingleResource(1, T.INTEGER, value)
    path = Lwm2mPath.of(TYPES_OBJECT, 0, 1)
    assert TLV.encode(node, path, model) == tlv
    assert TLV.decode(tlv, path, model) == node


@pytest.mark.parametrize(
    ("type_", "value", "hex_"),
    [
        (T.UNSIGNED_INTEGER, 255, "FF"),
        (T.UNSIGNED_INTEGER, 2**64 - 1, "FFFFFFFFFFFFFFFF"),
        (T.FLOAT, 1.5, "3FC00000"),  # exact in float32: 4 bytes
        (T.FLOAT, -0.0, "80000000"),
        (T.FLOAT, 0.1, "3FB999999999999A"),  # not exact in float32: 8 bytes
        (T.FLOAT, 1e300, "7E37E43C8800759C"),
        (T.BOOLEAN, True, "01"),
        (T.BOOLEAN, False, "00"),
        (T.TIME, datetime.fromtimestamp(1367491215, UTC), "5182428F"),
        (T.OBJLNK, ObjectLink(3, 0), "00030000"),
        (T.STRING, "h\u00e9", "68C3A9"),
        (T.OPAQUE, b"\x00\xff", "00FF"),
        (T.CORELNK, "</3/0>", "3C2F332F303E"),
    ],
)
def test_value_encodings(
    type_: ResourceType, value: Value, hex_: str, model: ObjectRegistry
) -> None:
    rid = ALL_TYPES.index(type_)
    path = Lwm2mPath.of(TYPES_OBJECT, 0, rid)
    node = SingleResource(rid, type_, value)
    payload = encode_tlv(TlvKind.RESOURCE, rid, bytes.fromhex(hex_))
    assert TLV.encode(node, path, model) == payload
    assert TLV.decode(payload, path, model) == node


def test_length_field_sizes_and_16_bit_ids() -> None:
    assert encode_tlv(TlvKind.RESOURCE, 1, b"1234567") == bytes.fromhex("C701") + b"1234567"
    assert encode_tlv(TlvKind.RESOURCE, 1, b"12345678")[:3] == bytes.fromhex("C80108")
    assert encode_tlv(TlvKind.RESOURCE, 1, b"x" * 300)[:4] == bytes.fromhex("D001012C")
    assert encode_tlv(TlvKind.RESOURCE, 1, b"x" * 70000)[:5] == bytes.fromhex("D801011170")
    assert encode_tlv(TlvKind.RESOURCE, 300, b"")[:3] == bytes.fromhex("E0012C")
    for size in (0, 7, 8, 255, 256, 65535, 65536, 70000):
        for identifier in (0, 255, 256, 65535):
            (tlv,) = parse_tlvs(encode_tlv(TlvKind.RESOURCE, identifier, b"a" * size))
            assert (tlv.id, len(tlv.value)) == (identifier, size)


def test_registered_for_both_content_formats() -> None:
    assert codec_for(ContentFormat.TLV) is TLV
    assert CODECS[ContentFormat.OLD_TLV].content_format == ContentFormat.OLD_TLV
    assert codec_for(1542).decode(b"", P("/3/0"), ObjectRegistry()) == ObjectInstance(0)


def test_unknown_resources_decode_as_opaque() -> None:
    node = TLV.decode(bytes.fromhex("C1010A"), P("/4242/0/1"), ObjectRegistry())
    assert node == SingleResource(1, T.OPAQUE, b"\x0a")


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ("C8", "/3/0", "offset 0: header truncated"),
        ("C10964C80014414243", "/3/0", r"offset 3: length 20 exceeds the 3 remaining"),
        ("080005C10964", "/3", "offset 0: length 5 exceeds"),
        ("C10964C10965", "/3/0", "offset 3: duplicate resource /3/0/9"),
        ("C3090000FF", "/3/0", "an integer takes 1, 2, 4 or 8 bytes, not 3"),
        ("C10602", "/1/0", "a boolean is one byte 0 or 1, not 02"),
        ("C30200ff00", "/66/0", "an object link takes 4 bytes, not 3"),
        ("C100FF", "/3/0", "not UTF-8"),
        ("C10964", "/3", "expected an object instance in /3, found a resource"),
        ("410001", "/3/0", "expected a resource in /3/0, found a resource_instance"),
        ("860641000141000A", "/3/0", "duplicate instance /3/0/6/0"),
        ("8306C10964", "/3/0", "resource cannot be inside a multiple_resource"),
        ("C10A0F", "/3/0/9", "resource 10 does not match /3/0/9"),
        ("080103C10964", "/3/0/9", "object_instance 1 does not match /3/0/9"),
        ("", "/3/0/9", "does not hold a value for the resource /3/0/9"),
        ("410105", "/3/0/6/0", "does not hold the resource instance /3/0/6/0"),
        ("C10964", "/", "root path"),
    ],
)
def test_junk_raises_codec_error(
    payload: str, path: str, message: str, model: ObjectRegistry
) -> None:
    with pytest.raises(CodecError, match=message) as info:
        TLV.decode(bytes.fromhex(payload), P(path), model)
    assert info.value.code is ResponseCode.BAD_REQUEST


def test_encoding_checks_node_and_value(model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match="cannot be encoded at /3/0/8"):
        TLV.encode(SingleResource(9, T.INTEGER, 1), P("/3/0/8"), model)
    with pytest.raises(CodecError, match="not a valid Integer value"):
        TLV.encode(SingleResource(9, T.INTEGER, "100"), P("/3/0/9"), model)
    with pytest.raises(CodecError, match="not a valid Integer value"):
        TLV.encode(SingleResource(9, T.INTEGER, 2**63), P("/3/0/9"), model)
    with pytest.raises(CodecError, match="not a valid Time value"):
        TLV.encode(SingleResource(13, T.TIME, datetime(2020, 1, 1)), P("/3/0/13"), model)
