"""LwM2M JSON (content format 11543 / 1543). The Device payload is the example of OMA LwM2M TS 1.0
Core 6.4.4 "JSON" (Read /3/0), without its whitespace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import CODECS, codec_for
from lwm2m_mlaas.core.codecs.lwm2m_json import JSON
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

DEVICE_JSON = (
    b'{"bn":"/3/0/","e":['
    b'{"n":"0","sv":"Open Mobile Alliance"},'
    b'{"n":"1","sv":"Lightweight M2M Client"},'
    b'{"n":"2","sv":"345000123"},'
    b'{"n":"3","sv":"1.0"},'
    b'{"n":"6/0","v":1},{"n":"6/1","v":5},'
    b'{"n":"7/0","v":3800},{"n":"7/1","v":5000},'
    b'{"n":"8/0","v":125},{"n":"8/1","v":900},'
    b'{"n":"9","v":100},{"n":"10","v":15},'
    b'{"n":"11/0","v":0},'
    b'{"n":"13","v":1367491215},'
    b'{"n":"14","sv":"+02:00"},'
    b'{"n":"16","sv":"U"}]}'
)


def test_device_spec_example(model: ObjectRegistry) -> None:
    assert JSON.decode(DEVICE_JSON, P("/3/0"), model) == device_instance()
    assert JSON.encode(device_instance(), P("/3/0"), model) == DEVICE_JSON
    assert codec_for(ContentFormat.JSON) is JSON
    assert CODECS[ContentFormat.OLD_JSON].decode(DEVICE_JSON, P("/3/0"), model) == device_instance()


@pytest.mark.parametrize(
    "payload",
    [
        DEVICE_JSON.replace(b'"bn":"/3/0/"', b'"bn":"/"').replace(b'"n":"', b'"n":"3/0/'),
        DEVICE_JSON.replace(b'"bn":"/3/0/",', b"").replace(b'"n":"', b'"n":"/3/0/'),
        DEVICE_JSON.replace(b'"bn":"/3/0/"', b'"bn":"3/0/"'),
    ],
    ids=["root-base-name", "no-base-name", "base-name-without-slash"],
)
def test_base_name_variants(payload: bytes, model: ObjectRegistry) -> None:
    assert JSON.decode(payload, P("/3/0"), model) == device_instance()


def test_single_values_of_every_label(model: ObjectRegistry) -> None:
    node = ObjectInstance.of(
        0,
        SingleResource(3, T.FLOAT, 10.5),
        SingleResource(4, T.BOOLEAN, True),
        SingleResource(5, T.OPAQUE, b"\x01\x02\x03\x04\x05"),
        SingleResource(7, T.OBJLNK, ObjectLink(66, 1)),
    )
    payload = (
        b'{"bn":"/32766/0/","e":[{"n":"3","v":10.5},{"n":"4","bv":true},'
        b'{"n":"5","sv":"AQIDBAU="},{"n":"7","ov":"66:1"}]}'
    )
    assert JSON.encode(node, P("/32766/0"), model) == payload
    assert JSON.decode(payload, P("/32766/0"), model) == node
    single = SingleResource(9, T.INTEGER, 100)
    assert JSON.encode(single, P("/3/0/9"), model) == b'{"bn":"/3/0/9","e":[{"v":100}]}'
    assert JSON.decode(b'{"bn":"/3/0/9","e":[{"v":100}]}', P("/3/0/9"), model) == single


def test_timestamped_values_newest_wins(model: ObjectRegistry) -> None:
    payload = (
        b'{"bn":"/3/0/9","bt":25462634,"e":[{"v":22,"t":-30},{"v":24,"t":-5},{"v":21,"t":-50}]}'
    )
    assert JSON.decode(payload, P("/3/0/9"), model) == SingleResource(9, T.INTEGER, 24)


def test_empty_lists(model: ObjectRegistry) -> None:
    assert JSON.decode(b'{"e":[]}', P("/2"), model) == Lwm2mObject(2)
    assert JSON.decode(b'{"bn":"/3/0/6","e":[]}', P("/3/0/6"), model) == MultiResource(6, T.INTEGER)
    assert JSON.encode(ObjectInstance(0), P("/3/0"), model) == b'{"bn":"/3/0","e":[]}'


def test_time_resource(model: ObjectRegistry) -> None:
    node = JSON.decode(b'{"e":[{"n":"/3/0/13","v":1367491215}]}', P("/3/0/13"), model)
    assert node == SingleResource(13, T.TIME, datetime.fromtimestamp(1367491215, UTC))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{}", "must be an object with an 'e' array"),
        (b"[]", "must be an object with an 'e' array"),
        (b'{"e":{}}', "must be an object with an 'e' array"),
        (b'{"e":[1]}', "entry 0 is not an object"),
        (b"{", "not JSON"),
        (b'{"bn":"/3/0/","e":[{"n":"0"}]}', r"\(/3/0/0\) has no value"),
        (b'{"bn":"/3/0/","e":[{"n":"1","sv":"a"},{"n":"1","sv":"b"}]}', "duplicate value"),
        (b'{"bn":"/3/0/11/","e":[{"n":"1","v":2},{"n":"1","v":0}]}', "duplicate value"),
        (b'{"bn":"/3/0/","e":[{"n":"9","sv":"100"}]}', "belongs in 'v', found 'vs'"),
        (b'{"bn":"/0/0/","e":[{"n":"3","sv":"%%"}]}', "not valid base64"),
    ],
)
def test_junk_raises_codec_error(payload: bytes, message: str, model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match=message):
        JSON.decode(payload, P("/3/0") if b"/0/0/" not in payload else P("/0/0"), model)
