"""Confirmable exchanges straight from a context's socket (`Exchanges`) and the compact
duplicate cache (`compact_duplicates`), against raw UDP peers on loopback: what goes on the
wire, retransmission, separate responses, resets, and duplicate Registers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiocoap
import aiocoap.resource as coap_resource
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.types import ACK, CON, RST

from lwm2m_mlaas import coap
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.server import build_server
from tests.helpers.net import datagram, raw_message, receive, send, udp_peer


class Tuning(TransportTuning):
    ACK_TIMEOUT = 0.1
    EXCHANGE_LIFETIME = 0.5


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    with udp_peer() as sock:
        yield sock


@pytest.fixture
async def context() -> AsyncIterator[aiocoap.Context]:
    ctx = await coap.server_context(coap_resource.Site(), "127.0.0.1", 0)
    yield ctx
    await ctx.shutdown()


async def request_to(context: aiocoap.Context, peer: socket.socket,
                     exchanges: coap.Exchanges) -> asyncio.Task[aiocoap.Message]:  # fmt: skip
    msg = aiocoap.Message(code=Code.GET, uri=f"coap://127.0.0.1:{peer.getsockname()[1]}/fw/p",
                          block2=(2, False, 5))  # fmt: skip
    await context.find_remote_and_interface(msg)
    assert exchanges.handles(msg.remote)
    return asyncio.create_task(exchanges.request(msg))


async def answer(peer: socket.socket, context: aiocoap.Context, reply: aiocoap.Message) -> None:
    await send(peer, reply.encode(), coap.bound_port(context))


async def test_a_request_is_retransmitted_until_the_piggybacked_answer(
    context: aiocoap.Context, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coap, "TUNING", Tuning())
    exchanges = coap.Exchanges(context)
    pending = await request_to(context, peer, exchanges)
    sent = await datagram(peer)
    assert await datagram(peer) == sent  # not answered: the same datagram after ACK_TIMEOUT
    first = aiocoap.Message.decode(sent)
    assert (first.mtype, first.code, first.opt.uri_path, first.opt.block2.block_number) == (
        CON, Code.GET, ("fw", "p"), 2)  # fmt: skip
    await answer(peer, context, raw_message(ACK, first.mid, Code.CONTENT, first.token,
                                        b"block 2"))
    reply = await asyncio.wait_for(pending, 5)
    assert (reply.code, reply.payload) == (Code.CONTENT, b"block 2")
    with pytest.raises(TimeoutError):  # answered: no more retransmissions
        await receive(peer, timeout=0.5)


async def test_a_separate_response_is_matched_on_its_token_and_acknowledged(
    context: aiocoap.Context, peer: socket.socket
) -> None:
    exchanges = coap.Exchanges(context)
    pending = await request_to(context, peer, exchanges)
    request = await receive(peer)
    await answer(peer, context, raw_message(ACK, request.mid, Code.EMPTY))
    await answer(peer, context, raw_message(CON, 7, Code.CONTENT, request.token, b"later"))
    ack = await receive(peer)
    assert (ack.mtype, ack.mid, ack.code) == (ACK, 7, Code.EMPTY)
    reply = await asyncio.wait_for(pending, 5)
    assert reply.payload == b"later"


async def test_a_reset_or_silence_fails_the_request(
    context: aiocoap.Context, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchanges = coap.Exchanges(context)
    pending = await request_to(context, peer, exchanges)
    request = await receive(peer)
    await answer(peer, context, raw_message(RST, request.mid, Code.EMPTY))
    with pytest.raises(aiocoap.error.MessageError):
        await asyncio.wait_for(pending, 5)

    monkeypatch.setattr(coap, "TUNING", Tuning())
    pending = await request_to(context, peer, exchanges)
    sent = [await receive(peer) for _ in range(5)]  # the request and 4 retransmissions
    with pytest.raises(aiocoap.error.ConRetransmitsExceeded):
        await asyncio.wait_for(pending, 10)
    assert len({m.mid for m in sent}) == 1
    assert not exchanges._by_mid and not exchanges._by_token


async def test_closing_fails_the_requests_in_flight_and_sends_no_more(
    context: aiocoap.Context, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coap, "TUNING", Tuning())
    exchanges = coap.Exchanges(context)
    pending = await request_to(context, peer, exchanges)
    await receive(peer)
    exchanges.close()  # (before its socket closes)
    with pytest.raises(aiocoap.error.LibraryShutdown):
        await asyncio.wait_for(pending, 1)
    with pytest.raises(TimeoutError):  # no retransmission after it
        await receive(peer, timeout=0.5)
    assert not exchanges._by_mid and not exchanges._by_token
    with pytest.raises(aiocoap.error.LibraryShutdown):  # nor a new request
        await asyncio.wait_for(await request_to(context, peer, exchanges), 1)
    with pytest.raises(TimeoutError):
        await receive(peer, timeout=0.5)


async def test_a_duplicate_register_gets_the_first_answer_until_the_exchange_lifetime(
    tmp_path: Path, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compact duplicate cache answers a retransmitted Register with the bytes of its first
    answer, one registration; after the exchange lifetime the entry is swept."""
    monkeypatch.setattr(coap, "TUNING", Tuning())
    # a piggybacked answer even on a loaded machine (else both copies get the empty ACK)
    monkeypatch.setattr(TransportTuning, "EMPTY_ACK_DELAY", 3.0)
    config = replace(ServerConfig(), coap_host="127.0.0.1", coap_port=0, coaps_port=-1,
                     data_dir=tmp_path, http_port=-1)  # fmt: skip
    async with build_server(config) as server:
        register = raw_message(CON, 4711, Code.POST, b"\x01", b"</1/0>,</3/0>", uri_path=("rd",),
                           uri_query=("ep=dup-1", "lt=60"))  # fmt: skip
        loop = asyncio.get_running_loop()
        answers = []
        for _ in range(2):
            await loop.sock_sendto(peer, register.encode(), ("127.0.0.1", server.port))
            answers.append(await asyncio.wait_for(loop.sock_recv(peer, 2048), 5))
        assert answers[0] == answers[1]
        assert aiocoap.Message.decode(answers[0]).code == Code.CREATED
        assert len(server.registrations.all()) == 1
        assert server.context is not None
        recent = coap.token_manager(server.context).token_interface._recent_messages
        assert any(mid == 4711 for _, mid in recent)
        await asyncio.sleep(2.0)  # lifetime 0.5 s, swept a second after
        assert not any(mid == 4711 for _, mid in recent)


async def test_a_burst_the_busy_loop_could_not_read_is_queued_not_dropped(
    tmp_path: Path, peer: socket.socket
) -> None:
    """600 Registers of 1 KB arrive while the server's event loop is blocked: its socket's
    receive buffer (ServerConfig.receive_buffer) holds them all, and each is answered with no
    retransmission (the kernel's default buffer keeps about a fifth of them)."""
    config = replace(ServerConfig(), coap_host="127.0.0.1", coap_port=0, coaps_port=-1,
                     data_dir=tmp_path, http_port=-1, provisioning=False)  # fmt: skip
    links = ",".join(f"</3303/{i}>" for i in range(100)).encode()
    assert len(links) > 1000
    coap.widen_receive_buffer(peer, 4 << 20)
    async with build_server(config) as server:
        assert server.context is not None
        sock = coap.message_interface(server.context).transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= config.receive_buffer
        count = 600
        for mid in range(count):  # (no await: the loop reads nothing meanwhile)
            query = (f"ep=burst-{mid}", "lt=60")
            register = raw_message(CON, mid, Code.POST, mid.to_bytes(2, "big"), links,
                                   uri_path=("rd",), uri_query=query)  # fmt: skip
            peer.sendto(register.encode(), ("127.0.0.1", server.port))
        created: set[int] = set()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(20):
            while len(created) < count:
                answer = aiocoap.Message.decode(await loop.sock_recv(peer, 2048))
                if answer.code == Code.EMPTY:  # (an ACK: the answer follows separately)
                    continue
                if answer.mtype == CON:  # (a separate answer: one to this peer at a time)
                    await send(peer, raw_message(ACK, answer.mid, Code.EMPTY).encode(),
                               server.port)  # fmt: skip
                assert answer.code == Code.CREATED, answer.payload
                created.add(int.from_bytes(answer.token, "big"))
        assert created == set(range(count))
        assert len(server.registrations.all()) == count
