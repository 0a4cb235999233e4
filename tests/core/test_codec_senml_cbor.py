"""SenML CBOR (content format 112): RFC 8428 section 6 with the integer labels of its Table 4
(bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6, vd 8) and LwM2M's text label "vlo" (TS 1.1 Core 7.4.5).
Expected bytes are spelled out item by item after RFC 8949; the opaque example is the one Leshan
and the TS use for /0/0/3 = h'ABCDEF'."""

from __future__ import annotations

from datetime import UTC, datetime

import cbor2
import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.senml_cbor import SENML_CBOR
from lwm2m_mlaas.core.codecs.senml_json import SENML_JSON
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    ObjectInstance,
    ObjectLink,
    ResourceType,
    SingleResource,
)
from lwm2m_mlaas.core.paths import Lwm2mPath

from .conftest import device_instance

T = ResourceType
P = Lwm2mPath.parse


def test_opaque_resource(model: ObjectRegistry) -> None:
    # [{-2: "/0/0/3", 8: h'ABCDEF'}]
    payload = bytes.fromhex("81a221662f302f302f330843abcdef")
    node = SingleResource(3, T.OPAQUE, bytes.fromhex("ABCDEF"))
    assert SENML_CBOR.encode(node, P("/0/0/3"), model) == payload
    assert SENML_CBOR.decode(payload, P("/0/0/3"), model) == node
    assert codec_for(ContentFormat.SENML_CBOR) is SENML_CBOR


def test_multiple_resource(model: ObjectRegistry) -> None:
    # [{-2: "/3/0/7/", 0: "0", 2: 3800}, {0: "1", 2: 5000}]
    payload = bytes.fromhex(
        "82"
        "a3" "21" "672f332f302f372f" "00" "6130" "02" "190ed8"
        "a2" "00" "6131" "02" "191388"
    )  # fmt: skip
    node = MultiResource(7, T.INTEGER, {0: 3800, 1: 5000})
    assert SENML_CBOR.encode(node, P("/3/0/7"), model) == payload
    assert SENML_CBOR.decode(payload, P("/3/0/7"), model) == node


def test_float_boolean_and_object_link(model: ObjectRegistry) -> None:
    # [{-2: "/32766/0/", 0: "3", 2: 1.5}, {0: "4", 4: true}, {0: "7", "vlo": "3:0"}]
    payload = bytes.fromhex(
        "83"
        "a3" "21" "692f33323736362f302f" "00" "6133" "02" "fb3ff8000000000000"
        "a2" "00" "6134" "04" "f5"
        "a2" "00" "6137" "63766c6f" "63333a30"
    )  # fmt: skip
    node = ObjectInstance.of(
        0,
        SingleResource(3, T.FLOAT, 1.5),
        SingleResource(4, T.BOOLEAN, True),
        SingleResource(7, T.OBJLNK, ObjectLink(3, 0)),
    )
    assert SENML_CBOR.encode(node, P("/32766/0"), model) == payload
    assert SENML_CBOR.decode(payload, P("/32766/0"), model) == node


def test_device_instance_matches_the_senml_json_example(model: ObjectRegistry) -> None:
    payload = SENML_CBOR.encode(device_instance(), P("/3/0"), model)
    records = cbor2.loads(payload)
    assert records[0] == {-2: "/3/0/", 0: "0", 3: "Open Mobile Alliance"}
    assert records[13] == {0: "13", 2: 1367491215}
    assert SENML_CBOR.decode(payload, P("/3/0"), model) == device_instance()
    obj = Lwm2mObject.of(3, device_instance())
    assert SENML_CBOR.decode(SENML_CBOR.encode(obj, P("/3"), model), P("/3"), model) == obj


def test_half_and_single_floats_and_decimal_time_are_accepted(model: ObjectRegistry) -> None:
    # [{-2: "/32766/0/3", 2: 1.5 as float16}] and bt as decimal fraction 4([-3, 1638435000123])
    half = bytes.fromhex("81a2216a2f33323736362f302f3302f93e00")
    assert SENML_CBOR.decode(half, P("/32766/0/3"), model) == SingleResource(3, T.FLOAT, 1.5)
    timed = cbor2.dumps([{-2: "/3/0/13", -3: cbor2.CBORTag(4, [-3, 1638435000123]), 2: 0}])
    node = SENML_CBOR.decode(timed, P("/3/0/13"), model)
    assert node == SingleResource(13, T.TIME, datetime.fromtimestamp(0, UTC))


def test_composite(model: ObjectRegistry) -> None:
    nodes = {
        P("/3/0/0"): SingleResource(0, T.STRING, "Open Mobile Alliance"),
        P("/3/0/9"): SingleResource(9, T.INTEGER, 95),
        P("/1/0/1"): SingleResource(1, T.INTEGER, 86400),
    }
    payload = SENML_CBOR.encode_nodes(nodes, model)
    assert cbor2.loads(payload) == [
        {-2: "/3/0/0", 3: "Open Mobile Alliance"},
        {-2: "/3/0/9", 2: 95},
        {-2: "/1/0/1", 2: 86400},
    ]
    assert SENML_CBOR.decode_nodes(payload, model) == nodes
    request = SENML_CBOR.encode_paths(nodes)
    assert request == bytes.fromhex("83a100662f332f302f30a100662f332f302f39a100662f312f302f31")
    assert SENML_CBOR.decode_paths(request) == tuple(nodes)
    # the same records as SenML JSON
    assert SENML_JSON.decode_nodes(SENML_JSON.encode_nodes(nodes, model), model) == nodes


def test_empty_payloads(model: ObjectRegistry) -> None:
    assert SENML_CBOR.decode(b"", P("/3/0/6"), model) == MultiResource(6, T.INTEGER)
    assert SENML_CBOR.decode(b"\x80", P("/3/0"), model) == ObjectInstance(0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("82", "not CBOR"),
        ("ff", "not CBOR"),
        ("8001", "1 trailing bytes"),
        ("a0", "is a dict, expected an array"),
        ("8101", "record 0 is a int, not a map"),
        ("81a2216a2f33323736362f302f3303620000", "Float value belongs in 'v', found 'vs'"),
        (
            "81a2216a2f33323736362f302f300343abcdef",
            "'vs' holds b'\\\\xab\\\\xcd\\\\xef', not a str",
        ),
        ("81a2216a2f33323736362f302f3108620000", "Integer value belongs in 'v', found 'vd'"),
    ],
)
def test_junk_raises_codec_error(payload: str, message: str, model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match=message):
        SENML_CBOR.decode(bytes.fromhex(payload), P("/32766/0"), model)
