"""LwM2M CBOR (content format 11544, OMA LwM2M TS 1.2.2 Core 7.5.4): the specification's
examples byte for byte (7.5.4.1 to 7.5.4.6), the layouts other encoders send (nested maps,
indefinite lengths), and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.lwm2m_cbor import LWM2M_CBOR
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import CodecError
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    ObjectInstance,
    ResourceType,
    SingleResource,
)
from lwm2m_mlaas.core.paths import Lwm2mPath

T = ResourceType
P = Lwm2mPath.parse
MANUFACTURER = "Open Mobile Alliance"

# 7.5.4.3: a Read of /3/0, 118 bytes
DEVICE = (
    "a1820300ad00744f70656e204d6f62696c6520416c6c69616e636501764c69676874776569676874204d324d20"
    "436c69656e7402693334353030303132330363312e3006a20001010507a200190ed80119138808a200187d0119"
    "03840918640a0f0ba100000d1a5182428f0e662b30323a3030106155"
)
# 7.5.4.4: a Read of /1 with two Server instances, 63 bytes
SERVERS = (
    "a101a200a7001865011a000151800219012c03191770051a0001518006f507615501a7001866011a0001518002"
    "19025803191770051a0001518006f4076155"
)


@pytest.fixture(scope="module")
def model() -> ObjectRegistry:
    return load_default()


def test_one_resource_7_5_4_1(model: ObjectRegistry) -> None:
    """{[3,0,0]: "Open Mobile Alliance"}; the nested form {3:{0:{0: ..}}} reads the same."""
    node = SingleResource(0, T.STRING, MANUFACTURER)
    wire = "a183030000744f70656e204d6f62696c6520416c6c69616e6365"
    assert LWM2M_CBOR.encode(node, P("/3/0/0"), model).hex() == wire
    assert LWM2M_CBOR.decode(bytes.fromhex(wire), P("/3/0/0"), model) == node
    nested = "a103a100a100744f70656e204d6f62696c6520416c6c69616e6365"
    assert LWM2M_CBOR.decode(bytes.fromhex(nested), P("/3/0/0"), model) == node
    assert codec_for(ContentFormat.LWM2M_CBOR) is LWM2M_CBOR


def test_a_multiple_resource_7_5_4_2(model: ObjectRegistry) -> None:
    node = MultiResource(6, T.INTEGER, {0: 1, 1: 5})
    assert LWM2M_CBOR.encode(node, P("/3/0/6"), model).hex() == "a183030006a200010105"
    assert LWM2M_CBOR.decode(bytes.fromhex("a183030006a200010105"), P("/3/0/6"), model) == node


def test_the_device_object_instance_7_5_4_3(model: ObjectRegistry) -> None:
    """Sixteen values, time (/3/0/13) as a bare integer, multiple resources as maps."""
    node = LWM2M_CBOR.decode(bytes.fromhex(DEVICE), P("/3/0"), model)
    assert isinstance(node, ObjectInstance)
    assert node.resources[0] == SingleResource(0, T.STRING, MANUFACTURER)
    assert node.resources[13] == SingleResource(13, T.TIME, datetime.fromtimestamp(1367491215,
                                                                                  UTC))
    assert node.resources[7] == MultiResource(7, T.INTEGER, {0: 3800, 1: 5000})
    assert node.resources[16] == SingleResource(16, T.STRING, "U")
    assert LWM2M_CBOR.encode(node, P("/3/0"), model).hex() == DEVICE


def test_two_server_instances_7_5_4_4(model: ObjectRegistry) -> None:
    node = LWM2M_CBOR.decode(bytes.fromhex(SERVERS), P("/1"), model)
    assert isinstance(node, Lwm2mObject) and sorted(node.instances) == [0, 1]
    assert node.instances[0].resources[0] == SingleResource(0, T.INTEGER, 101)
    assert node.instances[1].resources[6] == SingleResource(6, T.BOOLEAN, False)
    assert LWM2M_CBOR.encode(node, P("/1"), model).hex() == SERVERS


def test_a_read_composite_answer_7_5_4_5(model: ObjectRegistry) -> None:
    """{[3,0]: {0: .., 9: 100}, [1,0,1]: 86400}, in the order the paths were asked."""
    nodes = {P("/3/0/0"): SingleResource(0, T.STRING, MANUFACTURER),
             P("/3/0/9"): SingleResource(9, T.INTEGER, 100),
             P("/1/0/1"): SingleResource(1, T.INTEGER, 86400)}  # fmt: skip
    wire = ("a2820300a200744f70656e204d6f62696c6520416c6c69616e6365091864830100011a00015180")
    assert LWM2M_CBOR.encode_nodes(nodes, model).hex() == wire
    assert LWM2M_CBOR.decode_nodes(bytes.fromhex(wire), model, list(nodes)) == nodes


def test_a_create_with_a_path_fragment_inside_7_5_4_6(model: ObjectRegistry) -> None:
    """{[2,5]: {0: 5, 1: 0, [2,102]: 0, 3: 101}}: an inner key may be a fragment too."""
    wire = "a1820205a4000501008202186600031865"
    node = LWM2M_CBOR.decode(bytes.fromhex(wire), P("/2"), model)
    assert node == Lwm2mObject.of(2, ObjectInstance.of(
        5, SingleResource(0, T.INTEGER, 5), SingleResource(1, T.INTEGER, 0),
        MultiResource(2, T.INTEGER, {102: 0}), SingleResource(3, T.INTEGER, 101)))  # fmt: skip


def test_indefinite_lengths_as_other_encoders_send_them(model: ObjectRegistry) -> None:
    """Anjay's encoder writes every map with an indefinite length: {_ [13,26,1]: 42}."""
    node = LWM2M_CBOR.decode(bytes.fromhex("bf830d181a01182aff"), P("/13/26/1"), model)
    assert node == SingleResource(1, T.INTEGER, 42)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("a1830d181a01a202f60305", "null; deleting through a write is not supported"),
        ("a18503000000001864", "deeper than a resource instance"),
        ("a18203001864", "above a resource"),
        ("a1f5a100a10000", "is not an id or an array of ids"),
        ("a1801864", "is not an id or an array of ids"),
        ("a183031a00010000001864", "is not an id or an array of ids"),
        ("a1830300001864ff", "trailing bytes"),
        ("a183030000", "not CBOR"),
        ("83030000", "a map was expected"),
    ],
)
def test_what_is_refused(model: ObjectRegistry, wire: str, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        LWM2M_CBOR.decode(bytes.fromhex(wire), P("/3/0"), model)
