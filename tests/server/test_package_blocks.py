"""/fw/<package> serves Block2 itself (RFC 7959 2.4): over a real socket, a client asking
block by block at 64, 512 and 1024 bytes gets the package back byte for byte."""

from __future__ import annotations

import asyncio
import os

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON

from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers import net

PACKAGE = os.urandom(5000)


async def get(client: aiocoap.Context, server: Lwm2mServer, name: str,
              block: tuple[int, int, int] | None) -> aiocoap.Message:  # fmt: skip
    request = aiocoap.Message(code=Code.GET, uri=f"coap://127.0.0.1:{server.port}/fw/{name}")
    if block is not None:
        request.opt.block2 = block
    return await client.request(request, handle_blockwise=False).response


@pytest.mark.parametrize("exponent", [2, 5, 6])
async def test_every_block_at_the_size_asked(
    server: Lwm2mServer, client: aiocoap.Context, exponent: int
) -> None:
    server.packages.put("p.pkg", PACKAGE)
    received, number = b"", 0
    while True:
        answer = await get(client, server, "p.pkg", (number, False, exponent))
        assert answer.code == Code.CONTENT and answer.opt.size2 == len(PACKAGE)
        block = answer.opt.block2
        assert (block.block_number, block.size_exponent) == (number, exponent)
        received += answer.payload
        if not block.more:
            break
        assert len(answer.payload) == 2 ** (exponent + 4)
        number += 1
    assert received == PACKAGE


async def test_aiocoap_s_own_block_wise_client_reads_it_whole(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    server.packages.put("p.pkg", PACKAGE)
    request = aiocoap.Message(code=Code.GET, uri=f"coap://127.0.0.1:{server.port}/fw/p.pkg")
    answer = await client.request(request).response
    assert answer.code == Code.CONTENT and answer.payload == PACKAGE


async def test_a_block_larger_than_the_server_sends_is_split(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    server.packages.put("p.pkg", PACKAGE)
    answer = await get(client, server, "p.pkg", (1, False, 7))  # (7: a BERT size)
    block = answer.opt.block2
    assert block.size_exponent <= 6
    start = block.block_number * 2 ** (block.size_exponent + 4)
    assert start == 1024 and answer.payload == PACKAGE[start : start + len(answer.payload)]


async def test_past_the_end_and_unknown_packages_are_refused(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    server.packages.put("p.pkg", PACKAGE)
    answer = await get(client, server, "p.pkg", (100, False, 6))
    assert answer.code == Code.BAD_OPTION and b"past the package" in answer.payload
    answer = await get(client, server, "gone.pkg", (0, False, 6))
    assert answer.code == Code.NOT_FOUND


async def test_a_small_package_comes_in_one_answer(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    server.packages.put("small.pkg", b"tiny")
    answer = await get(client, server, "small.pkg", None)
    assert (answer.code, answer.payload, answer.opt.block2) == (Code.CONTENT, b"tiny", None)


async def test_blocks_of_a_package_in_memory_are_acknowledged_from_the_socket(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    """After the first read has put the package in memory, a raw peer's confirmable block
    request is answered with a piggybacked ACK carrying its message id and token, without
    aiocoap's exchange layer (no entry in its duplicate cache); a retransmission likewise."""
    server.packages.put("p.pkg", PACKAGE)
    await get(client, server, "p.pkg", (0, False, 5))  # read from the file, then kept
    with net.udp_peer() as peer:
        request = net.raw_message(CON, 4242, Code.GET, b"\x42", uri_path=("fw", "p.pkg"),
                                  block2=(3, False, 5))  # fmt: skip
        for _ in range(2):
            answer = aiocoap.Message.decode(await net.exchange(peer, server.port,
                                                               request.encode()))  # fmt: skip
            assert (answer.mtype, answer.code, answer.mid, answer.token) == (
                ACK, Code.CONTENT, 4242, b"\x42")  # fmt: skip
            assert answer.payload == PACKAGE[3 * 512 : 4 * 512]
    assert server.context is not None
    managers = [i.token_interface for i in server.context.request_interfaces
                if hasattr(getattr(i, "token_interface", None), "_recent_messages")]  # fmt: skip
    assert managers and not any(mid == 4242 for m in managers for _, mid in m._recent_messages)


async def test_a_block_answer_waits_while_the_registration_interface_is_busy(
    server: Lwm2mServer, client: aiocoap.Context
) -> None:
    """A burst at /rd holds package block answers back (at most PACE seconds); they go out as
    soon as it drains."""
    server.packages.put("p.pkg", PACKAGE)
    await get(client, server, "p.pkg", (0, False, 5))  # in memory from now on
    registrations = server.registrations
    holds = [registrations.handling() for _ in range(registrations.busy_at)]
    for hold in holds:
        hold.__enter__()
    with net.udp_peer() as peer:
        request = net.raw_message(CON, 4243, Code.GET, b"\x43", uri_path=("fw", "p.pkg"),
                                  block2=(1, False, 5))  # fmt: skip
        await net.send(peer, request.encode(), server.port)
        received = asyncio.ensure_future(net.datagram(peer, timeout=5))
        done, _ = await asyncio.wait([received], timeout=0.2)
        assert not done  # held back while /rd is busy
        for hold in holds:
            hold.__exit__(None, None, None)
        answer = aiocoap.Message.decode(await received)
    assert (answer.mtype, answer.code, answer.payload) == (ACK, Code.CONTENT, PACKAGE[512:1024])
