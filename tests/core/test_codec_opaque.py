"""application/octet-stream (OMA LwM2M TS 1.1 Core 7.4.2): raw bytes of an Opaque resource, e.g.
a firmware package pushed to /5/0/0."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.core.codecs import codec_for
from lwm2m_mlaas.core.codecs.opaque import OPAQUE
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import ResourceInstance, ResourceType, SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath

P = Lwm2mPath.parse
PACKAGE = bytes(range(256)) * 4


def test_firmware_package_both_ways(model: ObjectRegistry) -> None:
    node = SingleResource(0, ResourceType.OPAQUE, PACKAGE)
    assert OPAQUE.encode(node, P("/5/0/0"), model) == PACKAGE
    assert OPAQUE.decode(PACKAGE, P("/5/0/0"), model) == node
    assert OPAQUE.decode(b"", P("/5/0/0"), model) == SingleResource(0, ResourceType.OPAQUE, b"")
    assert codec_for(ContentFormat.OPAQUE) is OPAQUE


def test_resource_instance_and_unknown_resource(model: ObjectRegistry) -> None:
    node = ResourceInstance(2, ResourceType.OPAQUE, b"\x00")
    assert OPAQUE.encode(node, P("/32766/0/15/2"), model) == b"\x00"
    assert OPAQUE.decode(b"\x00", P("/32766/0/15/2"), model) == node
    unknown = OPAQUE.decode(b"ab", P("/4242/0/1"), ObjectRegistry())
    assert unknown == SingleResource(1, ResourceType.OPAQUE, b"ab")


def test_refuses_other_types(model: ObjectRegistry) -> None:
    with pytest.raises(CodecError, match="/5/0/1 is a String resource"):
        OPAQUE.decode(b"coap://x", P("/5/0/1"), model)
    with pytest.raises(CodecError, match="Opaque values only, not String"):
        OPAQUE.encode(SingleResource(1, ResourceType.STRING, "x"), P("/5/0/1"), model)
    with pytest.raises(CodecError, match="not a resource path"):
        OPAQUE.decode(b"x", P("/5/0"), model)
    with pytest.raises(CodecError, match="multiple resource"):
        OPAQUE.decode(b"x", P("/32766/0/15"), model)
