"""Hostile payloads for every codec: `decode` over random bytes, random JSON, random CBOR and
random TLV trees, at random paths, returns a node or raises an Lwm2mError (a 4.xx), nothing
else; and encode -> decode gives back generated valid nodes in every structured format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m_mlaas.core.codecs import CODECS, decode, encode, senml_codec
from lwm2m_mlaas.core.codecs.tlv import TlvKind, encode_tlv
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import Lwm2mError
from lwm2m_mlaas.core.model import ObjectModel, ObjectRegistry, ResourceModel
from lwm2m_mlaas.core.nodes import (
    MultiResource,
    ObjectInstance,
    ObjectLink,
    ResourceType,
    SingleResource,
    Value,
)
from lwm2m_mlaas.core.paths import Lwm2mPath

from .conftest import HOSTILE, Cases

pytestmark = pytest.mark.slow

T = ResourceType
TYPES_OBJECT = 32766
ALL_TYPES = (T.STRING, T.INTEGER, T.UNSIGNED_INTEGER, T.FLOAT, T.BOOLEAN, T.OPAQUE, T.TIME,
             T.OBJLNK, T.CORELNK)  # fmt: skip


def _types_object() -> ObjectModel:
    resources = {}
    for position, type_ in enumerate(ALL_TYPES):
        for rid, multiple in ((position, False), (10 + position, True)):
            resources[rid] = ResourceModel(rid, f"r{rid}", "RW", multiple, False, type_)
    return ObjectModel(TYPES_OBJECT, "Types", "", "1.0", "1.1", "", True, False, resources)


MODEL = ObjectRegistry.of([*load_default(), _types_object()])
FORMATS = sorted(CODECS)
STRUCTURED = [ContentFormat.TLV, ContentFormat.OLD_TLV, ContentFormat.SENML_JSON,
              ContentFormat.SENML_CBOR, ContentFormat.JSON, ContentFormat.OLD_JSON,
              ContentFormat.LWM2M_CBOR]  # fmt: skip

IDS = st.one_of(st.integers(0, 20), st.sampled_from([32, 255, 256, 65534, 65535]))
OBJECT_IDS = st.one_of(st.sampled_from(sorted(MODEL.objects)), IDS)
PATHS = st.builds(
    lambda o, rest, depth: Lwm2mPath((o, *rest)[:depth]),
    OBJECT_IDS, st.tuples(st.integers(0, 3), IDS, IDS).map(lambda t: tuple(
        min(v, 65534) if i == 0 else v for i, v in enumerate(t))),
    st.integers(0, 4),
)  # fmt: skip

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                         st.sampled_from(["/3/0/0", "/32766/0/", "3/0", "/", "bn", "AAEC"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["n", "bn", "v", "vs", "vb", "vd", "vlo", "t", "bt",
                                         "bv", "bver", "e", "bt", "u", "x"]) | st.text(max_size=4),
                        inner, max_size=5),
    ),
    max_leaves=20,
)  # fmt: skip
SENML_RECORDS = st.lists(
    st.dictionaries(st.sampled_from(["n", "bn", "v", "vs", "vb", "vd", "vlo", "t", "bt", "bv"]),
                    JSON_SCALARS, max_size=4),
    max_size=5,
)  # fmt: skip
CBOR_LABELS = {"bn": -2, "bt": -3, "bv": -5, "n": 0, "v": 2, "vs": 3, "vb": 4, "t": 6, "vd": 8}


def _cbor_senml(records: list[dict[str, Any]]) -> bytes:
    return cbor2.dumps([{CBOR_LABELS.get(k, k): (v.encode() if k == "vd" and isinstance(v, str)
                                                 else v) for k, v in r.items()}
                        for r in records])  # fmt: skip


TLV_TREES = st.recursive(
    st.tuples(st.sampled_from([TlvKind.RESOURCE, TlvKind.RESOURCE_INSTANCE]), IDS,
              st.binary(max_size=9)),
    lambda inner: st.tuples(st.sampled_from(list(TlvKind)), IDS, st.lists(inner, max_size=3)),
    max_leaves=10,
)  # fmt: skip


def _tlv(tree: Any) -> bytes:
    kind, identifier, content = tree
    if isinstance(content, list):
        content = b"".join(_tlv(child) for child in content)
    return encode_tlv(kind, identifier, content)


PAYLOADS = st.one_of(
    st.binary(max_size=64),
    st.lists(TLV_TREES, max_size=3).map(lambda ts: b"".join(_tlv(t) for t in ts)),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    SENML_RECORDS.map(lambda r: json.dumps(r).encode()),
    SENML_RECORDS.map(_cbor_senml),
    JSON_VALUES.map(lambda v: cbor2.dumps(v)),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "replace")),
)


def _decodes_or_refuses(data: bytes, path: Lwm2mPath, fmt: int) -> None:
    try:
        decode(data, path, MODEL, fmt)
    except Lwm2mError as exc:
        assert exc.code.value >> 5 == 4, exc.code


@pytest.mark.hostile(4000)
@settings(HOSTILE, max_examples=4000)
@given(data=PAYLOADS, path=PATHS, fmt=st.sampled_from(FORMATS))
def test_every_codec_decodes_or_raises_an_lwm2m_error(
    cases: Cases, data: bytes, path: Lwm2mPath, fmt: ContentFormat
) -> None:
    cases.add("codecs")
    _decodes_or_refuses(data, path, fmt)


@pytest.mark.hostile(600)
@settings(HOSTILE, max_examples=600)
@given(data=PAYLOADS, paths=st.none() | st.lists(PATHS, max_size=3),
       fmt=st.sampled_from([ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR]))  # fmt: skip
def test_composite_decoding_returns_nodes_or_raises_an_lwm2m_error(
    cases: Cases, data: bytes, paths: list[Lwm2mPath] | None, fmt: ContentFormat
) -> None:
    cases.add("codecs")
    codec = senml_codec(fmt)
    for call in (lambda: codec.decode_nodes(data, MODEL, paths), lambda: codec.decode_paths(data)):
        try:
            call()
        except Lwm2mError as exc:
            assert exc.code.value >> 5 == 4, exc.code


VALUES: dict[ResourceType, st.SearchStrategy[Value]] = {
    T.STRING: st.text().map(lambda t: t.encode("utf-8", "replace").decode()),
    T.INTEGER: st.integers(-(2**63), 2**63 - 1),
    T.UNSIGNED_INTEGER: st.integers(0, 2**64 - 1),
    T.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    T.BOOLEAN: st.booleans(),
    T.OPAQUE: st.binary(max_size=40),
    T.TIME: st.integers(0, 4102444800).map(lambda s: datetime.fromtimestamp(s, UTC)),
    T.OBJLNK: st.builds(ObjectLink, st.integers(0, 65535), st.integers(0, 65535)),
    T.CORELNK: st.sampled_from(["</3/0>", '</>;rt="oma.lwm2m",</1/0>', "</1>;ver=1.1"]),
}


@st.composite
def instances(draw: st.DrawFn) -> ObjectInstance:
    resources: list[SingleResource | MultiResource] = []
    for position in draw(st.sets(st.integers(0, len(ALL_TYPES) - 1), min_size=1)):
        type_ = ALL_TYPES[position]
        if draw(st.booleans()):
            resources.append(SingleResource(position, type_, draw(VALUES[type_])))
        else:
            values = draw(st.dictionaries(st.integers(0, 65535), VALUES[type_], min_size=1,
                                          max_size=3))  # fmt: skip
            resources.append(MultiResource(10 + position, type_, values))
    return ObjectInstance.of(draw(st.integers(0, 65534)), *resources)


@pytest.mark.hostile(1500)
@settings(HOSTILE, max_examples=1500)
@given(instance=instances(), fmt=st.sampled_from(STRUCTURED), level=st.sampled_from(["i", "r"]))
def test_encode_then_decode_gives_back_the_node(
    cases: Cases, instance: ObjectInstance, fmt: ContentFormat, level: str
) -> None:
    cases.add("codecs")
    path = Lwm2mPath.of(TYPES_OBJECT, instance.id)
    if level == "i":
        assert decode(encode(instance, path, MODEL, fmt), path, MODEL, fmt) == instance
        return
    for rid, resource in instance.resources.items():
        at = path.child(rid)
        assert decode(encode(resource, at, MODEL, fmt), at, MODEL, fmt) == resource


# ---- once bugs, now refused cleanly ---------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize("fmt", [ContentFormat.SENML_JSON, ContentFormat.JSON,
                                 ContentFormat.OLD_JSON])  # fmt: skip
def test_deeply_nested_json_is_a_codec_error(fmt: ContentFormat) -> None:
    _decodes_or_refuses(b"[" * DEEP, Lwm2mPath.of(3, 0), fmt)


@pytest.mark.parametrize(("fmt", "data"), [
    (ContentFormat.SENML_JSON, b'[{"n":"/3/0/9","v":' + b"9" * 5000 + b"}]"),
    (ContentFormat.JSON, b'{"e":[{"n":"9","v":' + b"9" * 5000 + b"}]}"),
    (ContentFormat.SENML_CBOR, cbor2.dumps([{0: "/3/0/9", 2: 10**5000}])),
], ids=["senml-json", "lwm2m-json", "senml-cbor"])  # fmt: skip
def test_huge_integers_are_a_codec_error(fmt: ContentFormat, data: bytes) -> None:
    _decodes_or_refuses(data, Lwm2mPath.of(3, 0), fmt)
