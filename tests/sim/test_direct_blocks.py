"""A pushed package's blocks are answered from the simulated device's socket: a raw peer's
confirmable Block1 PUTs to /5/0/0 get piggybacked ACKs (2.31 Continue, then 2.04) without
aiocoap's exchange layer, a retransmitted block gets the same answer again and is not taken
twice."""

from __future__ import annotations

import os

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON

from lwm2m_mlaas.coap import token_manager
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.firmware_update import FirmwareState
from tests.helpers import net
from tests.helpers.service import DeviceFactory

PACKAGE = os.urandom(1200)


def block(number: int, mid: int) -> bytes:
    start = number * 512
    msg = net.raw_message(CON, mid, Code.PUT, bytes([number + 1]), PACKAGE[start : start + 512],
                          uri_path=("5", "0", "0"), content_format=int(ContentFormat.OPAQUE),
                          block1=(number, start + 512 < len(PACKAGE), 5))  # fmt: skip
    return bytes(msg.encode())


async def test_a_retransmitted_block_is_answered_again_not_taken_twice(
    device: DeviceFactory,
) -> None:
    sim = await device("push-1")
    with net.udp_peer() as peer:

        async def send(data: bytes) -> bytes:
            return await net.exchange(peer, sim.port, data)

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
