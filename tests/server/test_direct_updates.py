"""Updates answered straight from the socket (answer_updates_directly), seen from a raw UDP
peer: a piggybacked ACK with the request's message id and token, a retransmission answered
the same, and whatever the direct path does not take still answered by aiocoap's stack."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON

from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers import net


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    with net.udp_peer() as sock:
        yield sock


async def exchange(peer: socket.socket, server: Lwm2mServer, message: aiocoap.Message,
                   ) -> aiocoap.Message:  # fmt: skip
    return aiocoap.Message.decode(await net.exchange(peer, server.port, message.encode()))


def request(mid: int, path: tuple[str, ...], query: tuple[str, ...] = (),
            payload: bytes = b"") -> aiocoap.Message:  # fmt: skip
    message = net.raw_message(CON, mid, Code.POST, mid.to_bytes(2, "big"), payload, uri_path=path)
    if query:
        message.opt.uri_query = query
    return message


async def test_an_update_is_acknowledged_with_its_answer_and_retransmissions_too(
    server: Lwm2mServer, peer: socket.socket
) -> None:
    registered = await exchange(peer, server, request(
        1, ("rd",), ("ep=raw-1", "lt=60"), b"</1/0>,</3/0>"))  # fmt: skip
    assert registered.code == Code.CREATED
    location = tuple(registered.opt.location_path)
    before = server.registrations.by_endpoint("raw-1")
    assert before is not None
    for _ in range(2):  # the same message again: as a device retransmits a lost answer
        answer = await exchange(peer, server, request(7, location, ("lt=90",)))
        assert (answer.mtype, answer.code, answer.mid, answer.token) == (
            ACK, Code.CHANGED, 7, (7).to_bytes(2, "big"))
    after = server.registrations.by_endpoint("raw-1")
    assert after is not None and after.lifetime == 90 and after.id == before.id


async def test_what_the_direct_path_refuses_is_answered_with_a_diagnostic(
    server: Lwm2mServer, peer: socket.socket
) -> None:
    answer = await exchange(peer, server, request(2, ("rd", "nosuchid")))
    assert (answer.mtype, answer.code, answer.mid) == (ACK, Code.NOT_FOUND, 2)
    assert b"nosuchid" in answer.payload
    answer = await exchange(peer, server, request(3, ("rd", "x"), ("lt=-5",)))
    assert answer.code == Code.BAD_REQUEST and answer.payload


async def test_a_block_wise_update_takes_aiocoap_s_way_and_is_assembled(
    server: Lwm2mServer, peer: socket.socket
) -> None:
    registered = await exchange(peer, server, request(
        5, ("rd",), ("ep=raw-2",), b"</1/0>"))  # fmt: skip
    location = tuple(registered.opt.location_path)
    links = b"</1/0>,</3/0>,</5/0>," + b",".join(b"</%d/0>" % n for n in range(32100, 32110))
    first = request(6, location, payload=links[:128])
    first.opt.block1 = (0, True, 3)
    answer = await exchange(peer, server, first)
    assert (answer.code, answer.mid, answer.opt.block1.block_number) == (Code.CONTINUE, 6, 0)
    last = request(8, location, payload=links[128:])
    last.opt.block1 = (1, False, 3)
    answer = await exchange(peer, server, last)
    assert (answer.code, answer.mid) == (Code.CHANGED, 8)
    updated = server.registrations.by_endpoint("raw-2")
    assert updated is not None and len(updated.object_links) == 13
