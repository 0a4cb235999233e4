"""Hostile block-wise transfers (RFC 7959) against a running server: Block1 uploads to /rd with
out-of-order and repeated block numbers, the reserved SZX 7, huge Size1 and transfers never
finished; Block2 reads of a /fw package at huge block numbers, with SZX 7 and huge Size2. Every
request is answered 2.xx or 4.xx; afterwards (the `coap` fixture) a well-formed device still
registers, the store matches memory and the process has not grown by more than MEMORY_LIMIT."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m_mlaas.server import Lwm2mServer

from .conftest import (
    BLOCK1,
    BLOCK2,
    CONTENT_FORMAT,
    CONTINUE,
    GET,
    HOSTILE,
    LIVE_PHASES,
    POST,
    SIZE1,
    SIZE2,
    URI_PATH,
    URI_QUERY,
    Answer,
    Cases,
    Option,
    RawCoap,
    block,
    uint,
)

pytestmark = pytest.mark.slow

PACKAGE = "model-1.pkg"
PACKAGE_SIZE = 5000

NUMBERS = st.one_of(st.integers(0, 8), st.sampled_from([2**20 - 1, 2**16, 4095, 4096]),
                    st.integers(0, 2**20 - 1))  # fmt: skip
SZX = st.one_of(st.integers(0, 7), st.just(7))
SIZES = st.one_of(st.none(), st.sampled_from([0, 1, 2**16, 2**31, 2**32 - 1]).map(uint),
                  st.binary(min_size=0, max_size=8))  # fmt: skip
"""Size1/Size2 values: none, plausible, huge, and over-long (more than the 4 bytes of a uint)."""
BLOCK_VALUES = st.one_of(
    st.builds(block, NUMBERS, st.booleans(), SZX),
    st.binary(max_size=4),  # over-long, or a raw value whatever it says
)


def _answered(answer: Answer, block1: bytes | None) -> bool:
    """2.xx or 4.xx; or, on /fw (GET), the 5.00 of aiocoap 0.4.17's Block1 spool to a block
    that does not continue the payload (/rd assembles Block1 itself and answers 4.08)."""
    if answer.code_class in (2, 4):
        return True
    return answer.dotted == "5.00" and block1 is not None and int.from_bytes(block1) >> 4 > 0


@pytest.fixture
def package(server: Lwm2mServer) -> bytes:
    data = bytes(i % 251 for i in range(PACKAGE_SIZE))
    server.packages.put(PACKAGE, data)
    return data


@pytest.mark.hostile(700)
@settings(HOSTILE, max_examples=700, phases=LIVE_PHASES)
@given(blocks=st.lists(st.tuples(BLOCK_VALUES, st.integers(0, 1100)), min_size=1, max_size=4),
       size1=SIZES, same_token_query=st.booleans(), endpoint=st.integers(0, 5))  # fmt: skip
async def test_block1_registrations_are_answered_with_2xx_or_4xx(
    server: Lwm2mServer, coap: RawCoap, cases: Cases, blocks: list[tuple[bytes, int]],
    size1: bytes | None, same_token_query: bool, endpoint: int,
) -> None:  # fmt: skip
    """A Register sent in hostile blocks: any order, any size exponent, any claimed total."""
    query = [(URI_QUERY, b"ep=blocky-%d" % endpoint), (URI_QUERY, b"lt=300")]
    for index, (value, length) in enumerate(blocks):
        options: list[Option] = [(URI_PATH, b"rd"), *query, (CONTENT_FORMAT, uint(40)),
                                 (BLOCK1, value)]  # fmt: skip
        if size1 is not None and (index == 0 or not same_token_query):
            options.append((SIZE1, size1))
        payload = (b"</1/0>," * 200)[:length]
        answer = await coap.request(POST, options, payload)
        cases.add("block-wise")
        assert _answered(answer, value), (answer.dotted, answer.payload[:200])
        if answer.code != CONTINUE:
            break


@pytest.mark.hostile(600)
@settings(HOSTILE, max_examples=600, phases=LIVE_PHASES)
@given(block2=st.one_of(st.none(), BLOCK_VALUES), size2=SIZES,
       name=st.sampled_from([PACKAGE, PACKAGE, "missing.pkg", "..", ".hidden", "a" * 200]),
       extra_segment=st.booleans(), block1=st.one_of(st.none(), BLOCK_VALUES))  # fmt: skip
async def test_block2_package_reads_are_answered_with_2xx_or_4xx(
    server: Lwm2mServer, coap: RawCoap, package: bytes, cases: Cases, block2: bytes | None,
    size2: bytes | None, name: str, extra_segment: bool, block1: bytes | None,
) -> None:  # fmt: skip
    options: list[Option] = [(URI_PATH, b"fw"), (URI_PATH, name.encode())]
    if extra_segment:
        options.append((URI_PATH, b"x"))
    for number, value in ((BLOCK2, block2), (SIZE2, size2), (BLOCK1, block1)):
        if value is not None:
            options.append((number, value))
    answer = await coap.request(GET, options)
    cases.add("block-wise")
    assert _answered(answer, block1), (answer.dotted, answer.payload[:200])
    if answer.code_class == 2 and name == PACKAGE and block2 is None and block1 is None:
        served = answer.option(BLOCK2)
        assert served is not None or answer.payload == package


async def _read_package(coap: RawCoap, szx: int) -> bytes:
    data = bytearray()
    number = 0
    while True:
        answer = await coap.request(GET, [(URI_PATH, b"fw"), (URI_PATH, PACKAGE.encode()),
                                          (BLOCK2, block(number, False, szx))])  # fmt: skip
        assert answer.dotted == "2.05", answer.dotted
        data += answer.payload
        value = int.from_bytes(answer.option(BLOCK2) or b"", "big")
        if not value & 0x8:
            return bytes(data)
        number += 1


@pytest.mark.hostile(400)
async def test_unfinished_uploads_stay_bounded_and_packages_still_serve(
    server: Lwm2mServer, coap: RawCoap, package: bytes, cases: Cases
) -> None:
    """400 Block1 uploads of 1 KiB blocks, each claiming a 4 GiB total and never finished; then
    a whole package still reads back block by block (the memory and store checks follow in the
    `coap` fixture)."""
    for i in range(400):
        options: list[Option] = [
            (URI_PATH, b"rd"), (URI_QUERY, b"ep=never-%d" % i), (CONTENT_FORMAT, uint(40)),
            (BLOCK1, block(0, True, 6)), (SIZE1, uint(2**32 - 1))]  # fmt: skip
        answer = await coap.request(POST, options, b"</1/0>," * 146 + b"</")
        cases.add("block-wise")
        assert answer.code_class in (2, 4), answer.dotted
    for szx in (0, 2, 6):
        assert await _read_package(coap, szx) == package


# ---- once bugs, now refused cleanly -----------------------------------------------


@pytest.mark.parametrize("second", [2, 1], ids=["gap", "repeat-after-two"])
async def test_out_of_order_block1_is_request_entity_incomplete(
    server: Lwm2mServer, coap: RawCoap, second: int
) -> None:
    options: list[Option] = [(URI_PATH, b"rd"), (URI_QUERY, b"ep=gap"), (CONTENT_FORMAT, uint(40))]
    first = await coap.request(POST, [*options, (BLOCK1, block(0, True, 0))], b"</1/0>,</3/0>,</")
    assert first.code == CONTINUE
    if second == 1:  # block 1 accepted, then block 1 again
        again = await coap.request(POST, [*options, (BLOCK1, block(1, True, 0))],
                                   b"5/0>," * 3 + b"<")  # fmt: skip
        assert again.code == CONTINUE
    answer = await coap.request(POST, [*options, (BLOCK1, block(second, False, 0))], b"/5/0>")
    assert answer.dotted == "4.08", answer.dotted


async def test_an_endless_block1_registration_is_refused_with_4_13(
    server: Lwm2mServer, coap: RawCoap
) -> None:
    options: list[Option] = [(URI_PATH, b"rd"), (URI_QUERY, b"ep=endless"),
                             (CONTENT_FORMAT, uint(40))]  # fmt: skip
    codes = []
    for number in range(256):
        answer = await coap.request(POST, [*options, (BLOCK1, block(number, True, 6))],
                                    b"</1/0>," * 146 + b"</")  # fmt: skip
        codes.append(answer.dotted)
        if answer.code != CONTINUE:
            break
    assert "4.13" in codes, f"{len(codes)} blocks, all answered {set(codes)}"
    assert len(codes) == 16 + 1  # 16 KiB accepted, the 17th block refused
