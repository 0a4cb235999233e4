"""A pushed package's blocks are answered from the simulated device's socket: a raw peer's
confirmable Block1 PUTs to /5/0/0 get piggybacked ACKs (2.31 Continue, then 2.04) without
aiocoap's exchange layer, a retransmitted block gets the same answer again and is not taken
twice."""

from __future__ import annotations

import asyncio
import os
import socket

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON

from lwm2m_mlaas.coap import token_manager
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.firmware_update import FirmwareState
from tests.conftest import DeviceFactory

PACKAGE = os.urandom(1200)


def block(number: int, mid: int) -> bytes:
    start = number * 512
    msg = aiocoap.Message(code=Code.PUT, uri_path=("5", "0", "0"),
                          payload=PACKAGE[start : start + 512],
                          content_format=int(ContentFormat.OPAQUE),
                          block1=(number, start + 512 < len(PACKAGE), 5))  # fmt: skip
    msg.mtype, msg.mid, msg.token = CON, mid, bytes([number + 1])
    return msg.encode()


async def test_a_retransmitted_block_is_answered_again_not_taken_twice(
    device: DeviceFactory,
) -> None:
    sim = await device("push-1")
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)

        async def send(data: bytes) -> bytes:
            await loop.sock_sendto(peer, data, ("127.0.0.1", sim.port))
            return await asyncio.wait_for(loop.sock_recv(peer, 2048), 5)

        answers = [await send(block(0, 100)), await send(block(1, 101)),
                   await send(block(1, 101))]  # fmt: skip
        assert answers[1] == answers[2]
        for number, data in enumerate(answers[:2]):
            answer = aiocoap.Message.decode(data)
            assert (answer.mtype, answer.mid, answer.code) == (ACK, 100 + number, Code.CONTINUE)
            assert answer.opt.block1.block_number == number
        last = aiocoap.Message.decode(await send(block(2, 102)))
        assert (last.mtype, last.code, last.token) == (ACK, Code.CHANGED, b"\x03")
    assert [m.block1 for m in sim.messages if m.path == "/5/0/0"] == [(0, 512), (1, 512),
                                                                       (2, 512)]  # fmt: skip
    assert sim.firmware.state is FirmwareState.DOWNLOADED
    assert sim.firmware.package == PACKAGE
    assert sim.context is not None  # answered beside aiocoap's exchange layer: not in its cache
    recent = token_manager(sim.context).token_interface._recent_messages
    assert recent is not None and not any(mid in (100, 101, 102) for _, mid in recent)
