"""Hostile-input tests: shared hypothesis settings, a raw CoAP client over one UDP socket (so
requests carry exactly the options and bytes a test draws, valid or not), a whole service
without a model zoo (for the REST API), and the generated-case counts.

Counting: each test takes the `cases` fixture, calls `cases.add(area)` once per generated case
and `cases.check(quota)` at the end; the count travels to the controlling process (with
pytest-xdist too) as the report's user property `hostile_cases`, and `pytest_terminal_summary`
states the total per area."""

from __future__ import annotations

import asyncio
import os
import struct
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import psutil
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers import wait_for

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lwm2m-mlaas-hypothesis")
"""Hypothesis's own files (its constants cache) stay out of the repository."""

HOSTILE = settings(
    database=None,  # no .hypothesis/ folder in the repository
    deadline=None,
    derandomize=True,  # the same cases every run: no flaky network timing between runs
    print_blob=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one server per test, shared by its examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
"""Parent of every hostile test's settings."""
LIVE_PHASES = (Phase.explicit, Phase.generate)
"""Tests against a running server report their first failing case as drawn: shrinking would
replay cases that wait seconds for an answer that never comes."""

AREAS = ("registration", "bootstrap", "send", "codecs", "block-wise", "REST")
MEMORY_LIMIT = 50 << 20
"""Largest RSS growth a test's whole hostile run may cause."""


# ---- counting ---------------------------------------------------------------------------------


@dataclass
class Cases:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, area: str, n: int = 1) -> None:
        assert area in AREAS, area
        self.counts[area] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def cases(request: pytest.FixtureRequest,
          record_property: Callable[[str, object], None]) -> Iterator[Cases]:  # fmt: skip
    """Counts the generated cases of one test (every example of a hypothesis test shares it);
    afterwards the count is recorded and checked against the test's `hostile(quota)` mark."""
    counted = Cases()
    yield counted
    record_property("hostile_cases", dict(counted.counts))
    marker = request.node.get_closest_marker("hostile")
    quota = marker.args[0] if marker else 1
    assert counted.total >= quota, f"only {counted.total} generated cases ran, {quota} wanted"


# ---- memory -----------------------------------------------------------------------------------


def rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


# ---- raw CoAP ---------------------------------------------------------------------------------

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4
URI_PATH, CONTENT_FORMAT, URI_QUERY = 11, 12, 15
BLOCK2, BLOCK1, SIZE2, SIZE1 = 23, 27, 28, 60
CONTINUE = (2 << 5) | 31

Option = tuple[int, bytes]


def uint(value: int) -> bytes:
    """A CoAP uint option value: big-endian, no leading zero bytes (0 is empty)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def block(number: int, more: bool, szx: int) -> bytes:
    return uint(number << 4 | int(more) << 3 | szx)


def _nibble(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, struct.pack("!H", value - 269)


def encode_message(mtype: int, code: int, mid: int, token: bytes, options: Iterable[Option],
                   payload: bytes = b"") -> bytes:  # fmt: skip
    out = bytearray([0x40 | mtype << 4 | len(token), code]) + struct.pack("!H", mid) + token
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):  # stable: repeats keep order
        delta, delta_ext = _nibble(number - last)
        length, length_ext = _nibble(len(value))
        out += bytes([delta << 4 | length]) + delta_ext + length_ext + value
        last = number
    if payload:
        out += b"\xff" + payload
    return bytes(out)


@dataclass(frozen=True)
class Answer:
    mtype: int
    code: int
    mid: int
    token: bytes
    options: tuple[Option, ...]
    payload: bytes

    @property
    def code_class(self) -> int:
        return self.code >> 5

    @property
    def dotted(self) -> str:
        return f"{self.code >> 5}.{self.code & 0x1F:02d}"

    def option(self, number: int) -> bytes | None:
        return next((v for n, v in self.options if n == number), None)

    def all(self, number: int) -> list[bytes]:
        return [v for n, v in self.options if n == number]


def decode_message(data: bytes) -> Answer:
    mtype, tkl = data[0] >> 4 & 3, data[0] & 0xF
    code, mid = data[1], struct.unpack("!H", data[2:4])[0]
    token, pos = data[4 : 4 + tkl], 4 + tkl
    options: list[Option] = []
    number = 0
    while pos < len(data) and data[pos] != 0xFF:
        delta, length = data[pos] >> 4, data[pos] & 0xF
        pos += 1
        values = []
        for nibble in (delta, length):
            if nibble == 13:
                values.append(data[pos] + 13)
                pos += 1
            elif nibble == 14:
                values.append(struct.unpack("!H", data[pos : pos + 2])[0] + 269)
                pos += 2
            else:
                values.append(nibble)
        number += values[0]
        options.append((number, data[pos : pos + values[1]]))
        pos += values[1]
    payload = data[pos + 1 :] if pos < len(data) else b""
    return Answer(mtype, code, mid, token, tuple(options), payload)


class RawCoap(asyncio.DatagramProtocol):
    """One UDP socket that sends hand-built CoAP requests and waits for their answers (an
    empty ACK followed by a separate CON response is acknowledged and followed)."""

    def __init__(self, port: int) -> None:
        self.address = ("127.0.0.1", port)
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[bytes, asyncio.Future[Answer]] = {}
        self.by_mid: dict[int, bytes] = {}
        self.resets: dict[int, asyncio.Future[Answer]] = {}
        self.mid = 0
        self.token = 0

    @classmethod
    async def open(cls, port: int) -> RawCoap:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: cls(port), local_addr=("127.0.0.1", 0))  # fmt: skip
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            await asyncio.sleep(0)  # the socket closes on the loop's next pass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            answer = decode_message(data)
        except (IndexError, struct.error):  # pragma: no cover - the server sends valid CoAP
            return
        if answer.mtype == CON:  # a separate response: acknowledge it
            assert self.transport is not None
            self.transport.sendto(encode_message(ACK, 0, answer.mid, b"", ()), self.address)
        if answer.mtype == RST or (answer.code == 0 and answer.mtype == ACK):
            token = self.by_mid.get(answer.mid)
            waiter = self.resets.get(answer.mid)
            if answer.mtype == RST and waiter is not None and not waiter.done():
                waiter.set_result(answer)
            if answer.mtype == RST and token is not None:
                future = self.waiting.get(token)
                if future is not None and not future.done():
                    future.set_result(answer)
            return
        future = self.waiting.get(answer.token)
        if future is not None and not future.done():
            future.set_result(answer)

    def next_ids(self) -> tuple[int, bytes]:
        self.mid = (self.mid + 1) & 0xFFFF
        self.token += 1
        return self.mid, self.token.to_bytes(4, "big")

    async def request(self, code: int, options: Iterable[Option], payload: bytes = b"",
                      timeout: float = 3.0, mtype: int = CON) -> Answer:  # fmt: skip
        """Send one request and return the answer (a response, or an RST)."""
        mid, token = self.next_ids()
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.waiting[token] = future
        self.by_mid[mid] = token
        assert self.transport is not None
        self.transport.sendto(encode_message(mtype, code, mid, token, options, payload),
                              self.address)  # fmt: skip
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            del self.waiting[token]
            del self.by_mid[mid]

    async def datagram(self, data: bytes, mid: int | None = None,
                       timeout: float = 0.5) -> Answer | None:  # fmt: skip
        """Send raw bytes; wait for an RST to `mid` if given, else for nothing."""
        assert self.transport is not None
        if mid is None:
            self.transport.sendto(data, self.address)
            return None
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.resets[mid] = future
        self.transport.sendto(data, self.address)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            del self.resets[mid]


def path_options(*segments: str) -> list[Option]:
    return [(URI_PATH, s.encode()) for s in segments]


def query_options(*items: str) -> list[Option]:
    return [(URI_QUERY, q.encode()) for q in items]


WELL_FORMED_LINKS = b"</1/0>,</3/0>,</5/0>"


async def register_cleanly(coap: RawCoap, endpoint: str) -> Answer:
    """A well-formed Register: it must still be answered 2.01 Created."""
    answer = await coap.request(
        POST, [*path_options("rd"), *query_options(f"ep={endpoint}", "lt=300", "lwm2m=1.1"),
               (CONTENT_FORMAT, uint(40))], WELL_FORMED_LINKS)  # fmt: skip
    assert answer.dotted == "2.01", (answer, answer.payload)
    return answer


async def assert_store_matches_memory(server: Lwm2mServer) -> None:
    """The database holds exactly the registrations the server holds in memory."""
    memory = server.registrations.all()
    async with server.store.transaction() as tx:
        stored = await tx.registrations.all()
    assert sorted(stored, key=lambda r: r.id) == sorted(memory, key=lambda r: r.id)


@pytest.fixture
async def coap(server: Lwm2mServer) -> AsyncIterator[RawCoap]:
    """A raw CoAP client of `server`; once the test is done (every example of it), a
    well-formed device must still register, the database must hold exactly the registrations
    in memory, and the process must not have grown by more than MEMORY_LIMIT."""
    before = rss()
    raw = await RawCoap.open(server.port)
    yield raw
    try:
        await register_cleanly(raw, "well-formed-afterwards")
        assert server.registrations.by_endpoint("well-formed-afterwards") is not None
        await wait_for(lambda: _consistent(server), timeout=5)  # expiry may be mid-sweep
        grown = rss() - before
        assert grown < MEMORY_LIMIT, f"RSS grew by {grown >> 20} MiB"
    finally:
        await raw.close()


async def _consistent(server: Lwm2mServer) -> bool:
    try:
        await assert_store_matches_memory(server)
    except AssertionError:
        return False
    return True


# ---- a service for the REST API, without a model zoo --------------------------------------------


@dataclass
class Rest:
    service: MlaasService
    session: aiohttp.ClientSession
    anonymous: aiohttp.ClientSession


@pytest.fixture
async def rest(tmp_path: Path) -> AsyncIterator[Rest]:
    """The whole service (nothing trained: no route the tests reach needs a model) and HTTP
    sessions with and without the bearer token."""
    config = ServerConfig(coap_host="127.0.0.1", coap_port=0, coaps_port=0, data_dir=tmp_path,
                          http_port=0, request_timeout=1.0, queue_awake_time=1.0)  # fmt: skip
    async with MlaasService(config) as service:
        assert service.api is not None
        headers = {"Authorization": f"Bearer {service.api.token}"}
        async with aiohttp.ClientSession(service.api.url, headers=headers) as session, \
                aiohttp.ClientSession(service.api.url) as anonymous:  # fmt: skip
            yield Rest(service, session, anonymous)
