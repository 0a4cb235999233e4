"""text/plain (OMA LwM2M TS 1.1 Core 7.4.1): one value per payload; numbers in decimal, Time as
seconds since 1970, Boolean "0"/"1", Objlnk "O:I", Opaque base64 (RFC 4648 section 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.text import TEXT, format_value, parse_value
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError, InvalidRequest
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
    MultiResource,
    ObjectInstance,
    ObjectLink,
    ResourceInstance,
    ResourceType,
    SingleResource,
    Value,
)
from lwm2m_mlaas.core.paths import Lwm2mPath

from .conftest import ALL_TYPES, TYPES_OBJECT

T = ResourceType
P = Lwm2mPath.parse


def test_read_manufacturer_and_battery(model: ObjectRegistry) -> None:
    node = TEXT.decode(b"Open Mobile Alliance", P("/3/0/0"), model)
    assert node == SingleResource(0, T.STRING, "Open Mobile Alliance")
    assert TEXT.decode(b"100", P("/3/0/9"), model) == SingleResource(9, T.INTEGER, 100)
    assert TEXT.encode(SingleResource(9, T.INTEGER, 100), P("/3/0/9"), model) == b"100"
    assert codec_for(ContentFormat.TEXT) is TEXT


@pytest.mark.parametrize(
    ("type_", "value", "text"),
    [
        (T.STRING, "h\u00e9llo, world", "h\u00e9llo, world"),
        (T.STRING, "", ""),
        (T.INTEGER, -42, "-42"),
        (T.INTEGER, 2**63 - 1, "9223372036854775807"),
        (T.UNSIGNED_INTEGER, 2**64 - 1, "18446744073709551615"),
        (T.FLOAT, 56.4, "56.4"),
        (T.FLOAT, 0.1, "0.1"),
        (T.FLOAT, 1e-7, "1e-07"),
        (T.FLOAT, 3.0, "3.0"),
        (T.BOOLEAN, True, "1"),
        (T.BOOLEAN, False, "0"),
        (T.TIME, datetime.fromtimestamp(1367491215, UTC), "1367491215"),
        (T.OBJLNK, ObjectLink(3, 0), "3:0"),
        (T.OBJLNK, ObjectLink(65535, 65535), "65535:65535"),
        (T.OPAQUE, b"\x01\x02\x03\x04\x05", "AQIDBAU="),
        (T.OPAQUE, b"", ""),
        (T.CORELNK, "</3/0>,</1/0>", "</3/0>,</1/0>"),
    ],
)
def test_every_type_both_ways(
    type_: ResourceType, value: Value, text: str, model: ObjectRegistry
) -> None:
    rid = ALL_TYPES.index(type_)
    path = Lwm2mPath.of(TYPES_OBJECT, 0, rid)
    node = SingleResource(rid, type_, value)
    assert TEXT.encode(node, path, model) == text.encode()
    assert TEXT.decode(text.encode(), path, model) == node
    instance_path = Lwm2mPath.of(TYPES_OBJECT, 0, 10 + rid, 3)
    instance = ResourceInstance(3, type_, value)
    assert TEXT.encode(instance, instance_path, model) == text.encode()
    assert TEXT.decode(text.encode(), instance_path, model) == instance


def test_lenient_number_forms(model: ObjectRegistry) -> None:
    assert TEXT.decode(b" +7\n", P("/3/0/9"), model) == SingleResource(9, T.INTEGER, 7)
    path = Lwm2mPath.of(TYPES_OBJECT, 0, ALL_TYPES.index(T.FLOAT))
    assert TEXT.decode(b"1E3", path, model) == SingleResource(path.ids[2], T.FLOAT, 1000.0)
    assert TEXT.decode(b"-.5", path, model) == SingleResource(path.ids[2], T.FLOAT, -0.5)
    assert TEXT.decode(b"12", path, model) == SingleResource(path.ids[2], T.FLOAT, 12.0)


def test_unknown_resource_is_a_string() -> None:
    node = TEXT.decode(b"42", P("/4242/0/1"), ObjectRegistry())
    assert node == SingleResource(1, T.STRING, "42")


@pytest.mark.parametrize(
    ("type_", "text", "message"),
    [
        (T.INTEGER, "abc", r"'abc' is not a valid Integer value"),
        (T.INTEGER, "1.5", "not a valid Integer"),
        (T.INTEGER, "1_000", "not a valid Integer"),
        (T.INTEGER, "", "not a valid Integer"),
        (T.INTEGER, "9223372036854775808", "out of range for Integer"),
        (T.UNSIGNED_INTEGER, "-1", "out of range for Unsigned Integer"),
        (T.FLOAT, "nan", "not a valid Float"),
        (T.FLOAT, "inf", "not a valid Float"),
        (T.FLOAT, "1e999", "not a valid Float"),
        (T.FLOAT, "0x10", "not a valid Float"),
        (T.BOOLEAN, "true", "not a valid Boolean"),
        (T.BOOLEAN, "2", "not a valid Boolean"),
        (T.TIME, "yesterday", "not a valid Time"),
        (T.TIME, "99999999999999999", "out of range"),
        (T.OBJLNK, "3-0", "not an object link"),
        (T.OBJLNK, "65536:0", "not an object link"),
        (T.OPAQUE, "!,-INVALID$_'", "not a valid Opaque"),
        (T.OPAQUE, "AQIDBAU", "not a valid Opaque"),
    ],
)
def test_junk_raises_codec_error(
    type_: ResourceType, text: str, message: str, model: ObjectRegistry
) -> None:
    path = Lwm2mPath.of(TYPES_OBJECT, 0, ALL_TYPES.index(type_))
    with pytest.raises(CodecError, match=message) as info:
        TEXT.decode(text.encode(), path, model)
    assert isinstance(info.value, InvalidRequest)
    with pytest.raises(CodecError, match=message):
        parse_value(text, type_, path)


def test_decode_refuses_what_text_cannot_carry(model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match="not a resource path"):
        TEXT.decode(b"x", P("/3/0"), model)
    with pytest.raises(CodecError, match="multiple resource /3/0/7"):
        TEXT.decode(b"3800", P("/3/0/7"), model)
    with pytest.raises(CodecError, match="not UTF-8"):
        TEXT.decode(b"\xff", P("/3/0/0"), model)


def test_encode_refuses_what_text_cannot_carry(model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match="not a MultiResource"):
        TEXT.encode(MultiResource(6, T.INTEGER, {0: 1}), P("/3/0/6"), model)
    with pytest.raises(CodecError, match="not a ObjectInstance"):
        TEXT.encode(ObjectInstance(0), P("/3/0"), model)
    with pytest.raises(CodecError, match="not a valid Float"):
        TEXT.encode(SingleResource(1, T.FLOAT, float("nan")), P("/3/0/1"), model)
    with pytest.raises(CodecError, match="cannot be encoded at /3/0/2"):
        TEXT.encode(SingleResource(1, T.STRING, "x"), P("/3/0/2"), model)


def test_format_value_is_shortest_round_trip() -> None:
    path = P("/3/0/1")
    for number in (0.1, 1 / 3, 2.5e-308, 1.7976931348623157e308, -0.0):
        text = format_value(number, T.FLOAT, path)
        assert float(text) == number
        assert text == repr(number)  # Python's repr is the shortest string that reads back
