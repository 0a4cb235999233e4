"""Every codec, every type: decode(encode(node)) == node, at every node level a format carries;
and the registry of codecs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lwm2m_mlaas.core.codecs import CODECS, Codec, codec_for, decode, encode
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import UnsupportedContentFormat
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

from .conftest import ALL_TYPES, TYPES_OBJECT

T = ResourceType
SAMPLES: dict[ResourceType, tuple[Value, ...]] = {
    T.STRING: ("", "Open Mobile Alliance", "\u00e9\u4e2d\U0001f600", 'a"b\\c,d;e\nf'),
    T.INTEGER: (0, 1, -1, 127, -128, 32768, -(2**63), 2**63 - 1),
    T.UNSIGNED_INTEGER: (0, 255, 65536, 2**32, 2**64 - 1),
    T.FLOAT: (0.0, 1.5, -0.1, 3.4028234663852886e38, 1e-300, 2.0**60),
    T.BOOLEAN: (True, False),
    T.OPAQUE: (b"", b"\x00", bytes(range(256)), b"\xfb\xff\xfe"),
    T.TIME: tuple(datetime.fromtimestamp(s, UTC) for s in (0, 1367491215, 4102444800)),
    T.OBJLNK: (ObjectLink(0, 0), ObjectLink(3, 0), ObjectLink(65535, 65535)),
    T.CORELNK: ("</3/0>", '</>;rt="oma.lwm2m",</1/0>'),
}
STRUCTURED = [
    ContentFormat.TLV,
    ContentFormat.OLD_TLV,
    ContentFormat.SENML_JSON,
    ContentFormat.SENML_CBOR,
    ContentFormat.JSON,
    ContentFormat.OLD_JSON,
]


def _path(*ids: int) -> Lwm2mPath:
    return Lwm2mPath.of(TYPES_OBJECT, *ids)


def _every_type_instance(instance_id: int) -> ObjectInstance:
    resources: list[SingleResource | MultiResource] = []
    for position, type_ in enumerate(ALL_TYPES):
        values = SAMPLES[type_]
        resources.append(SingleResource(position, type_, values[-1]))
        resources.append(MultiResource(10 + position, type_, dict(enumerate(values))))
    return ObjectInstance.of(instance_id, *resources)


def test_registry_holds_every_format() -> None:
    expected = {
        ContentFormat.TEXT,
        ContentFormat.OPAQUE,
        ContentFormat.CBOR,
        ContentFormat.TLV,
        ContentFormat.OLD_TLV,
        ContentFormat.SENML_JSON,
        ContentFormat.SENML_CBOR,
        ContentFormat.JSON,
        ContentFormat.OLD_JSON,
        ContentFormat.LWM2M_CBOR,
    }
    assert set(CODECS) == expected
    for content_format, codec in CODECS.items():
        assert codec.content_format == content_format
    with pytest.raises(UnsupportedContentFormat, match="content format 50 is not supported"):
        codec_for(50)
    with pytest.raises(UnsupportedContentFormat):
        codec_for(9999)


@pytest.mark.parametrize("content_format", STRUCTURED, ids=lambda f: f.name)
def test_object_and_instance_with_every_type(
    content_format: ContentFormat, model: ObjectRegistry
) -> None:
    obj = Lwm2mObject.of(TYPES_OBJECT, _every_type_instance(0), _every_type_instance(7))
    payload = encode(obj, _path(), model, content_format)
    assert decode(payload, _path(), model, content_format) == obj
    instance = _every_type_instance(65534)
    payload = encode(instance, _path(65534), model, content_format)
    assert decode(payload, _path(65534), model, content_format) == instance


@pytest.mark.parametrize("content_format", STRUCTURED, ids=lambda f: f.name)
@pytest.mark.parametrize("type_", ALL_TYPES, ids=lambda t: t.name)
def test_resources_and_instances(
    content_format: ContentFormat, type_: ResourceType, model: ObjectRegistry
) -> None:
    position = ALL_TYPES.index(type_)
    codec = codec_for(content_format)
    for value in SAMPLES[type_]:
        _round_trip(codec, SingleResource(position, type_, value), _path(0, position), model)
        instance = ResourceInstance(65535, type_, value)
        _round_trip(codec, instance, _path(0, 10 + position, 65535), model)
    multi = MultiResource(10 + position, type_, dict(enumerate(SAMPLES[type_])))
    _round_trip(codec, multi, _path(0, 10 + position), model)


@pytest.mark.parametrize("type_", ALL_TYPES, ids=lambda t: t.name)
def test_text_single_values(type_: ResourceType, model: ObjectRegistry) -> None:
    position = ALL_TYPES.index(type_)
    codec = codec_for(ContentFormat.TEXT)
    for value in SAMPLES[type_]:
        _round_trip(codec, SingleResource(position, type_, value), _path(0, position), model)
        instance = ResourceInstance(1, type_, value)
        _round_trip(codec, instance, _path(0, 10 + position, 1), model)


def test_opaque_single_values(model: ObjectRegistry) -> None:
    codec = codec_for(ContentFormat.OPAQUE)
    position = ALL_TYPES.index(T.OPAQUE)
    for value in SAMPLES[T.OPAQUE]:
        _round_trip(codec, SingleResource(position, T.OPAQUE, value), _path(0, position), model)


def _round_trip(codec: Codec, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> None:
    payload = codec.encode(node, path, model)
    assert isinstance(payload, bytes)
    assert codec.decode(payload, path, model) == node, (codec.content_format, node, payload)
