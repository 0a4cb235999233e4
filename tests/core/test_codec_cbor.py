"""application/cbor (OMA LwM2M TS 1.1 Core 7.4.6): one value as one CBOR data item. The bytes
are RFC 8949's own examples (Appendix A); floats take the shortest exact precision (4.2.2)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.cbor import CBOR
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
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


def path_of(type_: ResourceType) -> Lwm2mPath:
    return P(f"/{TYPES_OBJECT}/0/{ALL_TYPES.index(type_)}")


@pytest.mark.parametrize(
    ("type_", "value", "wire"),
    [
        (T.INTEGER, 0, "00"),
        (T.INTEGER, 100, "1864"),
        (T.INTEGER, -1000, "3903e7"),
        (T.INTEGER, 1000000, "1a000f4240"),
        (T.UNSIGNED_INTEGER, 18446744073709551615, "1bffffffffffffffff"),
        (T.FLOAT, 1.0, "f93c00"),
        (T.FLOAT, 1.1, "fb3ff199999999999a"),
        (T.FLOAT, 100000.0, "fa47c35000"),
        (T.FLOAT, -4.1, "fbc010666666666666"),
        (T.BOOLEAN, False, "f4"),
        (T.BOOLEAN, True, "f5"),
        (T.STRING, "IETF", "6449455446"),
        (T.STRING, "\u00fc", "62c3bc"),
        (T.OPAQUE, bytes.fromhex("01020304"), "4401020304"),
        (T.TIME, datetime.fromtimestamp(1363896240, UTC), "c11a514b67b0"),
        (T.OBJLNK, ObjectLink(3, 0), "63333a30"),
    ],
)
def test_values_encode_to_rfc_8949_bytes_and_back(
    model: ObjectRegistry, type_: ResourceType, value: Value, wire: str
) -> None:
    path = path_of(type_)
    node = SingleResource(path.ids[-1], type_, value)
    assert CBOR.encode(node, path, model).hex() == wire
    assert CBOR.decode(bytes.fromhex(wire), path, model) == node
    assert codec_for(ContentFormat.CBOR) is CBOR


def test_what_other_encoders_send_is_read_too(model: ObjectRegistry) -> None:
    """A float sent as float64, or as an integer; a time without its tag."""
    def read(wire: str, type_: ResourceType) -> object:
        return CBOR.decode(bytes.fromhex(wire), path_of(type_), model)

    assert read("fb3ff0000000000000", T.FLOAT) == SingleResource(3, T.FLOAT, 1.0)
    assert read("02", T.FLOAT) == SingleResource(3, T.FLOAT, 2.0)
    assert read("1a514b67b0", T.TIME) == \
        SingleResource(6, T.TIME, datetime.fromtimestamp(1363896240, UTC))  # fmt: skip


def test_a_resource_instance_and_a_resource_no_model_knows(model: ObjectRegistry) -> None:
    instance = P("/3/0/11/0")
    assert CBOR.decode(b"\x00", instance, model) == ResourceInstance(0, T.INTEGER, 0)
    assert CBOR.encode(ResourceInstance(0, T.INTEGER, 0), instance, model) == b"\x00"
    unknown = P("/32765/0/1")
    assert CBOR.decode(bytes.fromhex("f5"), unknown, model) == SingleResource(1, T.BOOLEAN, True)
    assert CBOR.decode(bytes.fromhex("6161"), unknown, model) == SingleResource(1, T.STRING, "a")


@pytest.mark.parametrize(
    ("type_", "wire", "reason"),
    [
        (T.INTEGER, "f5", "not a valid Integer"),
        (T.INTEGER, "f93c00", "not a valid Integer"),
        (T.BOOLEAN, "01", "not a valid Boolean"),
        (T.STRING, "4161", "not a valid String"),
        (T.OPAQUE, "6161", "not a valid Opaque"),
        (T.FLOAT, "f97e00", "not a valid Float"),  # NaN
        (T.INTEGER, "1864ff", "trailing bytes"),
        (T.INTEGER, "19", "not CBOR"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused(
    model: ObjectRegistry, type_: ResourceType, wire: str, reason: str
) -> None:
    with pytest.raises(CodecError, match=reason):
        CBOR.decode(bytes.fromhex(wire), path_of(type_), model)


def test_only_one_value_travels_as_cbor(model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match="carries one value"):
        CBOR.encode(ObjectInstance(0, {0: SingleResource(0, T.STRING, "a")}), P("/3/0"), model)
    with pytest.raises(CodecError, match="not a resource path"):
        CBOR.decode(b"\x00", P("/3/0"), model)
    with pytest.raises(CodecError, match="multiple resource"):
        CBOR.decode(b"\x00", P("/3/0/11"), model)
