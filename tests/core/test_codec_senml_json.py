"""SenML JSON (content format 110). Payloads: the Device instance example of OMA LwM2M TS 1.1
Core 7.4.4 (Read /3/0), the Read-Composite example of TS 1.1 Core (values of /3/0/0, /3/0/9 and
/1/0/1), and RFC 8428 section 4.5/4.6 for base name and base time resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.senml_json import SENML_JSON
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
)
from lwm2m_mlaas.core.paths import Lwm2mPath

from .conftest import device_instance

T = ResourceType
P = Lwm2mPath.parse

# TS 1.1 Core 7.4.4: Read /3/0 answered in SenML JSON (written here without the spaces)
DEVICE_SENML_JSON = (
    b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},'
    b'{"n":"1","vs":"Lightweight M2M Client"},'
    b'{"n":"2","vs":"345000123"},'
    b'{"n":"3","vs":"1.0"},'
    b'{"n":"6/0","v":1},{"n":"6/1","v":5},'
    b'{"n":"7/0","v":3800},{"n":"7/1","v":5000},'
    b'{"n":"8/0","v":125},{"n":"8/1","v":900},'
    b'{"n":"9","v":100},{"n":"10","v":15},'
    b'{"n":"11/0","v":0},'
    b'{"n":"13","v":1367491215},'
    b'{"n":"14","vs":"+02:00"},'
    b'{"n":"16","vs":"U"}]'
)


def test_device_instance_spec_example(model: ObjectRegistry) -> None:
    assert SENML_JSON.decode(DEVICE_SENML_JSON, P("/3/0"), model) == device_instance()
    assert SENML_JSON.encode(device_instance(), P("/3/0"), model) == DEVICE_SENML_JSON
    assert codec_for(ContentFormat.SENML_JSON) is SENML_JSON


def test_spec_example_with_whitespace_as_printed(model: ObjectRegistry) -> None:
    spaced = json.dumps(json.loads(DEVICE_SENML_JSON), indent=2).encode()
    assert SENML_JSON.decode(spaced, P("/3/0"), model) == device_instance()


def test_object_single_and_multiple_resource(model: ObjectRegistry) -> None:
    obj = Lwm2mObject.of(3, device_instance())
    encoded = SENML_JSON.encode(obj, P("/3"), model)
    assert encoded.startswith(b'[{"bn":"/3/","n":"0/0","vs":"Open Mobile Alliance"},')
    assert SENML_JSON.decode(encoded, P("/3"), model) == obj

    single = SingleResource(0, T.STRING, "Open Mobile Alliance")
    payload = b'[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]'
    assert SENML_JSON.encode(single, P("/3/0/0"), model) == payload
    assert SENML_JSON.decode(payload, P("/3/0/0"), model) == single

    voltage = MultiResource(7, T.INTEGER, {0: 3800, 1: 5000})
    payload = b'[{"bn":"/3/0/7/","n":"0","v":3800},{"n":"1","v":5000}]'
    assert SENML_JSON.encode(voltage, P("/3/0/7"), model) == payload
    assert SENML_JSON.decode(payload, P("/3/0/7"), model) == voltage

    instance = ResourceInstance(1, T.INTEGER, 5000)
    assert SENML_JSON.encode(instance, P("/3/0/7/1"), model) == b'[{"bn":"/3/0/7/1","v":5000}]'
    with pytest.raises(CodecError, match="/3/0/7/0 does not belong under /3/0/7/1"):
        SENML_JSON.decode(b'[{"bn":"/3/0/7/","n":"0","v":1}]', P("/3/0/7/1"), model)
    payload = b'[{"bn":"/3/0/7/1","v":5000}]'
    assert SENML_JSON.decode(payload, P("/3/0/7/1"), model) == instance


def test_values_of_every_kind(model: ObjectRegistry) -> None:
    node = ObjectInstance.of(
        0,
        SingleResource(3, T.FLOAT, 20.5),
        SingleResource(4, T.BOOLEAN, True),
        SingleResource(5, T.OPAQUE, bytes.fromhex("ABCDEF")),
        SingleResource(7, T.OBJLNK, ObjectLink(3, 0)),
        SingleResource(8, T.CORELNK, "</3/0>"),
    )
    payload = (
        b'[{"bn":"/32766/0/","n":"3","v":20.5},{"n":"4","vb":true},{"n":"5","vd":"q83v"},'
        b'{"n":"7","vlo":"3:0"},{"n":"8","vs":"</3/0>"}]'
    )
    assert SENML_JSON.encode(node, P("/32766/0"), model) == payload
    assert SENML_JSON.decode(payload, P("/32766/0"), model) == node


def test_opaque_uses_base64url_without_padding_and_accepts_both_alphabets(
    model: ObjectRegistry,
) -> None:
    node = SingleResource(5, T.OPAQUE, b"\xfb\xff")
    payload = SENML_JSON.encode(node, P("/32766/0/5"), model)
    assert payload == b'[{"bn":"/32766/0/5","vd":"-_8"}]'  # RFC 8428 4.3
    assert SENML_JSON.decode(payload, P("/32766/0/5"), model) == node
    standard = b'[{"bn":"/32766/0/5","vd":"+/8="}]'
    assert SENML_JSON.decode(standard, P("/32766/0/5"), model) == node


def test_base_name_and_time_resolution(model: ObjectRegistry) -> None:
    # RFC 8428 4.6: base name and base time apply until the next ones; of several records for
    # one name the newest (base time + time) wins
    payload = (
        b'[{"bn":"/3/0/","bt":1320067464,"n":"9","v":90,"t":-10},'
        b'{"n":"9","v":95},'
        b'{"bn":"/3/0/1","n":"4","vs":"+01:00","t":5},'
        b'{"n":"4","vs":"+02:00"}]'
    )
    assert SENML_JSON.decode(payload, P("/3/0"), model) == ObjectInstance.of(
        0, SingleResource(9, T.INTEGER, 95), SingleResource(14, T.STRING, "+01:00")
    )


def test_name_concatenation_cuts_ids(model: ObjectRegistry) -> None:
    # Base name "/3/0/1" + name "1/0" is "/3/0/11/0" (plain string concatenation, RFC 8428 4.5.1)
    payload = b'[{"bn":"/3/0/1","n":"1/0","v":0},{"n":"1/1","v":3}]'
    assert SENML_JSON.decode(payload, P("/3/0/11"), model) == MultiResource(
        11, T.INTEGER, {0: 0, 1: 3}
    )


def test_time_and_large_numbers(model: ObjectRegistry) -> None:
    payload = b'[{"bn":"/3/0/13","v":1.638435E9}]'
    expected = datetime.fromtimestamp(1638435000, UTC)
    assert SENML_JSON.decode(payload, P("/3/0/13"), model) == SingleResource(13, T.TIME, expected)
    payload = b'[{"n":"/0/0/16","v":18446744073709551615}]'
    node = SingleResource(16, T.UNSIGNED_INTEGER, 2**64 - 1)
    assert SENML_JSON.decode(payload, P("/0/0/16"), model) == node
    assert SENML_JSON.decode(b'[{"n":"/3/0/9","v":95.0}]', P("/3/0/9"), model) == SingleResource(
        9, T.INTEGER, 95
    )


def test_unknown_resources_typed_by_value_label() -> None:
    payload = (
        b'[{"bn":"/4242/0/","n":"0","v":1},{"n":"1","v":1.5},{"n":"2","vs":"s"},'
        b'{"n":"3","vb":false},{"n":"4","vd":"AA"},{"n":"5","vlo":"1:2"}]'
    )
    assert SENML_JSON.decode(payload, P("/4242/0"), ObjectRegistry()) == ObjectInstance.of(
        0,
        SingleResource(0, T.INTEGER, 1),
        SingleResource(1, T.FLOAT, 1.5),
        SingleResource(2, T.STRING, "s"),
        SingleResource(3, T.BOOLEAN, False),
        SingleResource(4, T.OPAQUE, b"\x00"),
        SingleResource(5, T.OBJLNK, ObjectLink(1, 2)),
    )


def test_empty_payloads(model: ObjectRegistry) -> None:
    for payload in (b"", b"[]", b" \n"):
        assert SENML_JSON.decode(payload, P("/3/0/6"), model) == MultiResource(6, T.INTEGER)
        assert SENML_JSON.decode(payload, P("/3/0"), model) == ObjectInstance(0)
        assert SENML_JSON.decode(payload, P("/1"), model) == Lwm2mObject(1)
    assert SENML_JSON.encode(ObjectInstance(0), P("/3/0"), model) == b"[]"


def test_composite_read_spec_example(model: ObjectRegistry) -> None:
    request = SENML_JSON.encode_paths([P("/3/0/0"), P("/3/0/9"), P("/1/0/1")])
    assert request == b'[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]'
    assert SENML_JSON.decode_paths(request) == (P("/3/0/0"), P("/3/0/9"), P("/1/0/1"))
    assert SENML_JSON.decode_paths(b'[{"bn":"/4/0/","n":"0"},{"n":"1"}]') == (
        P("/4/0/0"),
        P("/4/0/1"),
    )

    answer = (
        b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":95},'
        b'{"bn":"/1/0/","n":"1","v":86400}]'
    )
    nodes = {
        P("/3/0/0"): SingleResource(0, T.STRING, "Open Mobile Alliance"),
        P("/3/0/9"): SingleResource(9, T.INTEGER, 95),
        P("/1/0/1"): SingleResource(1, T.INTEGER, 86400),
    }
    assert SENML_JSON.decode_nodes(answer, model) == nodes
    assert SENML_JSON.decode_nodes(answer, model, paths=list(nodes)) == nodes
    assert SENML_JSON.encode_nodes(nodes, model) == (
        b'[{"bn":"/3/0/0","vs":"Open Mobile Alliance"},{"bn":"/3/0/9","v":95},'
        b'{"bn":"/1/0/1","v":86400}]'
    )


def test_composite_grouped_under_requested_paths(model: ObjectRegistry) -> None:
    nodes: dict[Lwm2mPath, Node] = {
        P("/3/0/9"): SingleResource(9, T.INTEGER, 95),
        P("/1/0"): ObjectInstance.of(
            0, SingleResource(1, T.INTEGER, 86400), SingleResource(7, T.STRING, "U")
        ),
        P("/3/0/7/1"): ResourceInstance(1, T.INTEGER, 5000),
    }
    payload = SENML_JSON.encode_nodes(nodes, model)
    assert SENML_JSON.decode_nodes(payload, model, paths=list(nodes)) == nodes
    flat = SENML_JSON.decode_nodes(payload, model)
    assert list(flat) == [P("/3/0/9"), P("/1/0/1"), P("/1/0/7"), P("/3/0/7/1")]
    assert flat[P("/3/0/7/1")] == ResourceInstance(1, T.INTEGER, 5000)
    with pytest.raises(CodecError, match="/1/0/1 is not under any requested path"):
        SENML_JSON.decode_nodes(payload, model, paths=[P("/3")])


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        (b"[{", "/3/0", "not JSON"),
        (b"\xff", "/3/0", "not UTF-8"),
        (b'{"bn":"/3/0/"}', "/3/0", "is a dict, expected an array"),
        (b"[1]", "/3/0", "record 0 is a int, not a map"),
        (b'[{"v":1}]', "/3/0", "name '' is not an LwM2M path"),
        (b'[{"n":"temp","v":1}]', "/3/0", "name 'temp' is not an LwM2M path"),
        (b'[{"n":"/3/x/1","v":1}]', "/3/0", "record 0: invalid path"),
        (b'[{"n":"/3/0/9"}]', "/3/0", r"record 0 \(/3/0/9\) has no value"),
        (b'[{"n":"/3/0/9","v":1,"vs":"1"}]', "/3/0", "several values"),
        (b'[{"n":"/3/0/9","vs":"100"}]', "/3/0", "Integer value belongs in 'v', found 'vs'"),
        (b'[{"n":"/3/0/0","v":1}]', "/3/0", "String value belongs in 'vs', found 'v'"),
        (b'[{"n":"/3/0/9","v":1.5}]', "/3/0", "1.5 is not an integer"),
        (b'[{"n":"/3/0/9","v":true}]', "/3/0", "value True is not a number"),
        (b'[{"n":"/3/0/9","v":NaN}]', "/3/0", "NaN is not a valid number"),
        (b'[{"n":"/3/0/9","v":1e999}]', "/3/0", "is not finite"),
        (b'[{"n":"/3/0/9","v":9223372036854775808}]', "/3/0", "out of range for Integer"),
        (b'[{"n":"/3/0/0","vs":1}]', "/3/0", "'vs' holds 1, not a str"),
        (b'[{"n":"/0/0/3","vd":"!!"}]', "/0/0", "not valid base64"),
        (b'[{"n":"/65/0/0/0","vlo":"66"}]', "/65/0", "not an object link"),
        (b'[{"n":"/3/0/9","v":1,"foo_":2}]', "/3/0", "must-understand label 'foo_'"),
        (b'[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]', "/3/0", "duplicate value for /3/0/9"),
        (b'[{"n":"/1/0/1","v":1}]', "/3/0", "/1/0/1 does not belong under /3/0"),
        (b'[{"n":"/3/0/6","v":1},{"n":"/3/0/6/0","v":1}]', "/3/0", "both a single and a multi"),
        (b"[]", "/3/0/9", "no value for /3/0/9"),
        (b'[{"bn":1,"v":1}]', "/3/0", "base name is not a string"),
        (b'[{"bn":"/3/0/9","bt":"now","v":1}]', "/3/0", "base time 'now' is not a number"),
    ],
)
def test_junk_raises_codec_error(
    payload: bytes, path: str, message: str, model: ObjectRegistry
) -> None:
    with pytest.raises(CodecError, match=message) as info:
        SENML_JSON.decode(payload, P(path), model)
    assert info.value.code is ResponseCode.BAD_REQUEST


def test_decode_paths_refuses_values() -> None:
    with pytest.raises(CodecError, match="a path carries no value"):
        SENML_JSON.decode_paths(b'[{"n":"/3/0/0","vs":"x"}]')
