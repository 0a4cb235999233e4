"""Hostile registration input: random Uri-Query lists, payloads and content formats, first to the
pure parsers (they return a value or raise an Lwm2mError, nothing else), then as raw CoAP to a
running server (every request is answered 2.xx or 4.xx; afterwards a well-formed device still
registers and the database holds exactly the registrations in memory)."""

from __future__ import annotations

import asyncio
import json
import re

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m_mlaas.core.bootstrap import BootstrapConfig
from lwm2m_mlaas.core.codecs import senml_codec
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import CodecError, Lwm2mError
from lwm2m_mlaas.core.linkformat import Link, format_link_format, parse_link_format
from lwm2m_mlaas.core.registration import (
    SUPPORTED_VERSIONS,
    RegistrationParams,
    parse_register,
    parse_update,
)
from lwm2m_mlaas.server import Lwm2mServer

from .conftest import (
    CONTENT_FORMAT,
    DELETE,
    GET,
    HOSTILE,
    LIVE_PHASES,
    POST,
    PUT,
    URI_PATH,
    URI_QUERY,
    Cases,
    Option,
    RawCoap,
    register_cleanly,
    uint,
)

pytestmark = pytest.mark.slow

NAMES = ("ep", "lt", "lwm2m", "b", "sms", "Q", "pos", "ep ", "EP", "")
VALUES = st.one_of(
    st.sampled_from(["", "0", "1", "30", "4294967295", "4294967296", "-5", "1e3", "\u0663",
                     "1.0", "1.1", "1.2", "2.0", "U", "UQ", "Q", "QQ", "SUTN", "UU", "X",
                     "node-1", " ", "a" * 256, "\x00", "\u00e9"]),
    st.text(max_size=40),
)  # fmt: skip
QUERY_ITEM = st.one_of(
    st.builds(lambda name, value: f"{name}={value}", st.sampled_from(NAMES), VALUES),
    st.sampled_from(NAMES),
    st.text(max_size=30),
)
QUERIES = st.lists(QUERY_ITEM, max_size=8)

LINK_ALPHABET = '<>/;,="\\ \t\r\n0123456789abcdefgilmnoprtv.-_*#~\u00e9'
TARGETS = st.sampled_from(["/", "/1", "/1/0", "/3/0", "/5/0", "/lwm2m", "/lwm2m/3/0", "/32100/0",
                           "/65536/0", "/1/0/0", "/a/b", "//", "/3/00", "</3>"])  # fmt: skip
ATTRIBUTES = st.lists(
    st.tuples(st.sampled_from(["ct", "rt", "ver", "if", "ob", "x", "", "a b", "ct="]),
              st.one_of(st.none(),
                        st.sampled_from(['"oma.lwm2m"', "11543", "1.1", '"', '"a\\"', "", "x y"]),
                        st.text(LINK_ALPHABET, max_size=8))),
    max_size=3,
)  # fmt: skip


def _link_text(target: str, attributes: list[tuple[str, str | None]]) -> str:
    return f"<{target}>" + "".join(f";{n}" if v is None else f";{n}={v}" for n, v in attributes)


LINKISH = st.builds(
    lambda links, sep: sep.join(links),
    st.lists(st.builds(_link_text, TARGETS, ATTRIBUTES), max_size=6),
    st.sampled_from([",", ", ", ",\n", ";", ""]),
)
TEXTS = st.one_of(LINKISH, st.text(LINK_ALPHABET, max_size=80), st.text(max_size=60))
PAYLOADS = st.one_of(
    TEXTS.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
    st.sampled_from([b"", b"\xff\xfe", b"</1/0>\xc3", b"<" * 1000, b"</1/0>," * 300]),
)
FORMATS = st.one_of(st.none(), st.sampled_from([0, 40, 42, 110, 11543]),
                    st.integers(0, 65535))  # fmt: skip
ENDPOINT = re.compile(r"^[\x21-\x7e]{1,255}$")


def _check_links(links: tuple[Link, ...]) -> None:
    assert isinstance(links, tuple) and all(isinstance(link, Link) for link in links)
    assert parse_link_format(format_link_format(links)) == links


def _check_params(params: RegistrationParams, register: bool) -> None:
    if register:
        assert params.endpoint is not None and ENDPOINT.match(params.endpoint)
        assert params.lwm2m_version in SUPPORTED_VERSIONS
        assert params.binding and set(params.binding) <= set("USTN")
        assert params.object_links is not None
    if params.lifetime is not None:
        assert 1 <= params.lifetime <= 0xFFFFFFFF
    if params.object_links is not None:
        _check_links(params.object_links)
    assert not set(params.additional_attributes) & {"ep", "lt", "lwm2m", "b", "sms", "Q"}


def _safe(text: str) -> str:
    """Text as CoAP carries it (UTF-8): lone surrogates are not encodable."""
    return text.encode("utf-8", "replace").decode("utf-8")


@pytest.mark.hostile(2500)
@settings(HOSTILE, max_examples=2500)
@given(query=QUERIES, payload=PAYLOADS, fmt=FORMATS)
def test_parse_register_returns_params_or_an_lwm2m_error(
    cases: Cases, query: list[str], payload: bytes, fmt: int | None
) -> None:
    cases.add("registration")
    try:
        params = parse_register([_safe(q) for q in query], payload, fmt)
    except Lwm2mError as exc:
        assert exc.code.value >> 5 == 4, exc.code
        return
    _check_params(params, register=True)


@pytest.mark.hostile(1500)
@settings(HOSTILE, max_examples=1500)
@given(query=QUERIES, payload=PAYLOADS, fmt=FORMATS)
def test_parse_update_returns_params_or_an_lwm2m_error(
    cases: Cases, query: list[str], payload: bytes, fmt: int | None
) -> None:
    cases.add("registration")
    try:
        params = parse_update([_safe(q) for q in query], payload, fmt)
    except Lwm2mError as exc:
        assert exc.code.value >> 5 == 4, exc.code
        return
    _check_params(params, register=False)


@pytest.mark.hostile(2000)
@settings(HOSTILE, max_examples=2000)
@given(text=TEXTS)
def test_link_format_parses_or_raises_a_codec_error_and_round_trips(
    cases: Cases, text: str
) -> None:
    cases.add("registration")
    try:
        links = parse_link_format(text)
    except CodecError:
        return
    _check_links(links)


# ---- against a running server -----------------------------------------------------------------

VALID = "<valid>"
"""Stands for the location of a live registration, drawn as a /rd/<id> path segment."""

SEGMENTS = st.one_of(
    st.just(["rd"]),
    st.just(["rd", VALID]),
    st.lists(st.sampled_from(["rd", VALID, "", "..", "rd ", "%00", "\u00e9"]), min_size=1,
             max_size=3),
    st.lists(st.text(max_size=12), max_size=3).map(lambda s: ["rd", *s]),
)  # fmt: skip
METHODS = st.one_of(st.just(POST), st.sampled_from([GET, PUT, DELETE, 5, 6, 7]),
                    st.integers(1, 31))  # fmt: skip
RAW_QUERY = st.one_of(
    QUERY_ITEM.map(lambda q: q.encode("utf-8", "surrogatepass")),
    st.binary(max_size=20),  # not UTF-8 too: answered 4.02
)
FORMAT_VALUE = st.one_of(st.none(), FORMATS.map(lambda f: None if f is None else uint(f)),
                         st.binary(max_size=4))  # fmt: skip
EXTRA_OPTIONS = st.lists(
    st.tuples(st.sampled_from([1, 3, 4, 5, 6, 7, 8, 9, 14, 17, 20, 258, 259, 2048, 2049, 65000,
                               65001]),
              st.binary(max_size=9)),
    max_size=3,
)  # fmt: skip
"""Options a registration does not carry, critical (odd) and elective (even); no Proxy-Uri or
Proxy-Scheme (5.05 Proxying Not Supported is then the right answer)."""


@pytest.mark.hostile(1000)
@settings(HOSTILE, max_examples=1000, phases=LIVE_PHASES)
@given(method=METHODS, segments=SEGMENTS, query=st.lists(RAW_QUERY, max_size=6),
       fmt=FORMAT_VALUE, payload=PAYLOADS, extra=EXTRA_OPTIONS)  # fmt: skip
async def test_registration_interface_answers_hostile_requests_with_4xx(
    server: Lwm2mServer, coap: RawCoap, cases: Cases, method: int, segments: list[str],
    query: list[bytes], fmt: bytes | None, payload: bytes, extra: list[Option],
) -> None:  # fmt: skip
    cases.add("registration")
    live = server.registrations.by_endpoint("anchor")
    if live is None:
        created = await register_cleanly(coap, "anchor")
        live = server.registrations.by_endpoint("anchor")
        assert live is not None and created
    options: list[Option] = [(URI_PATH, (live.id if s == VALID else s).encode("utf-8", "replace"))
                             for s in segments]  # fmt: skip
    options += [(URI_QUERY, q) for q in query]
    if fmt is not None:
        options.append((CONTENT_FORMAT, fmt))
    options += extra
    answer = await coap.request(method, options, payload)
    assert answer.code_class in (2, 4), (answer.dotted, answer.payload[:200])


NO_RESPONSE = 258
BOOTSTRAP_QUERY = st.one_of(
    st.sampled_from([b"ep=bs-anchor", b"ep=", b"ep=nobody", b"pct=112", b"pct=11542", b"pct=x",
                     b"pct=", b"ep", b"pct=99999999999999999999"]),
    st.binary(max_size=16),
)  # fmt: skip


@pytest.mark.hostile(400)
@settings(HOSTILE, max_examples=400, phases=LIVE_PHASES)
@given(method=METHODS, query=st.lists(BOOTSTRAP_QUERY, max_size=4), payload=PAYLOADS,
       extra=EXTRA_OPTIONS)  # fmt: skip
async def test_bootstrap_interface_answers_hostile_requests_with_4xx(
    server: Lwm2mServer, coap: RawCoap, cases: Cases, method: int, query: list[bytes],
    payload: bytes, extra: list[Option],
) -> None:  # fmt: skip
    """/bs with a configured endpoint that must bootstrap over DTLS: over NoSec nothing gets
    past 4.xx, and nothing is recorded as a bootstrap."""
    cases.add("bootstrap")
    async with server.store.transaction() as tx:
        if await tx.bootstrap.get("bs-anchor") is None:
            await tx.bootstrap.put("bs-anchor", BootstrapConfig.from_json({"security": {
                "0": {"bootstrapServer": True, "securityMode": "PSK",
                      "publicKeyOrId": list(b"bs-anchor"), "secretKey": list(b"k")}}}))  # fmt: skip
    extra = [o for o in extra if o[0] != NO_RESPONSE]  # it may rightly suppress the 4.xx
    options: list[Option] = [(URI_PATH, b"bs"), *[(URI_QUERY, q) for q in query], *extra]
    answer = await coap.request(method, options, payload)
    assert answer.code_class == 4, (answer.dotted, answer.payload[:200])
    async with server.store.transaction() as tx:
        record = await tx.bootstrap.get("bs-anchor")
    assert record is not None and record.last_result is None


@pytest.mark.hostile(400)
async def test_concurrent_bursts_of_registrations_leave_memory_and_store_consistent(
    server: Lwm2mServer, coap: RawCoap, cases: Cases
) -> None:
    """Interleaved registers, re-registers of the same endpoints, updates of unknown ids and
    malformed payloads, 40 at a time; the `coap` fixture then checks the store against memory."""
    for burst in range(10):
        requests = []
        for i in range(40):
            query = [b"ep=burst-%d-%d" % (burst, i % 7), b"lt=%d" % (1 + i % 3 * 100),
                     b"b=UQ" if i % 2 else b"b=U"]  # fmt: skip
            payload = b"</1/0>,</3/0>" if i % 5 else b"</3/0"
            path = [b"rd"] if i % 4 else [b"rd", b"%x" % i]
            options = [(URI_PATH, p) for p in path] + [(URI_QUERY, q) for q in query]
            requests.append(coap.request(POST, options, payload))
        for answer in await asyncio.gather(*requests):
            assert answer.code_class in (2, 4), answer.dotted
        cases.add("registration", len(requests))


@pytest.mark.parametrize("option", [URI_QUERY, URI_PATH, 3])
async def test_non_utf8_string_options_are_answered(
    server: Lwm2mServer, coap: RawCoap, option: int
) -> None:
    """aiocoap would drop these silently; coap.answer_undecodable_options answers 4.02."""
    options: list[Option] = [(URI_PATH, b"rd"), (URI_QUERY, b"ep=x"), (option, b"\x80")]
    answer = await coap.request(POST, options, b"</1/0>", timeout=1.0)
    assert answer.dotted == "4.02", answer.dotted
    assert b"not UTF-8" in answer.payload


# ---- Send (/dp) ------------------------------------------------------------------------------

SENML_KEYS = st.sampled_from([-2, -3, 0, 2, 3, 4, 6, 8, "bn", "n", "v", "vs", "vb", "x", 99])
SENML_VALUES = st.one_of(
    st.sampled_from(["/3/0/", "0", "/32101/0/2", "/3/0/11/0", "/1/0/1", "/3", "/65536/0/0",
                     "/3/0/0/0/0", "", "/a"]),
    st.integers(-(2**64), 2**64), st.floats(), st.booleans(), st.none(), st.binary(max_size=8),
    st.text(max_size=8),
)  # fmt: skip
RECORDS = st.lists(st.dictionaries(SENML_KEYS, SENML_VALUES, max_size=4), max_size=5)


def _json_safe(records: list[dict[object, object]]) -> bytes:
    return json.dumps([{str(k): v.hex() if isinstance(v, bytes) else v for k, v in r.items()}
                       for r in records]).encode()  # fmt: skip


SEND_PAYLOADS = st.one_of(
    RECORDS.map(cbor2.dumps), RECORDS.map(_json_safe), st.binary(max_size=60),
    st.sampled_from([b"", b"\x80", b"[]", b"\x9f", cbor2.dumps([{0: "/3/0/0", 3: "x"}] * 2000),
                     cbor2.dumps([{-2: "/3/0/", 0: "0", 3: "acme"}, {0: "11/0", 2: 5}]),
                     b'[{"bn": "/32101/0/", "n": "2", "v": 7}]']),
)  # fmt: skip


@pytest.mark.hostile(600)
@settings(HOSTILE, max_examples=600, phases=LIVE_PHASES)
@given(fmt=st.one_of(st.none(), st.sampled_from([112, 110, 60, 11542, 0]), st.integers(0, 65535)),
       payload=SEND_PAYLOADS)  # fmt: skip
async def test_send_answers_hostile_payloads_with_4xx_and_keeps_only_what_decodes(
    server: Lwm2mServer, coap: RawCoap, cases: Cases, fmt: int | None, payload: bytes
) -> None:
    """A registered device's Sends of random SenML-shaped CBOR and JSON, and of any bytes:
    each is 2.04 or 4.xx, and an accepted one is kept, value for value."""
    cases.add("send")
    if server.registrations.by_endpoint("anchor") is None:
        await register_cleanly(coap, "anchor")
    options: list[Option] = [(URI_PATH, b"dp")]
    if fmt is not None:
        options.append((CONTENT_FORMAT, uint(fmt)))
    answer = await coap.request(POST, options, payload)
    assert answer.dotted == "2.04" or answer.code_class == 4, (answer.dotted, answer.payload)
    if answer.dotted == "2.04":
        assert fmt is not None
        sent = senml_codec(ContentFormat(fmt)).decode_nodes(payload, server.model)
        await server.sent.flush()
        kept = await server.sent.of("anchor")
        assert {path: kept[path].node for path in sent} == sent
