"""A UDP relay between a device and the server that damages package data in flight: the device
registers through it, so the server's requests (a push's Block1 writes) come through it too.
While `corrupting` is set it flips a byte in the last block of every push, which is the end of
the package's model payload: the device's SHA-256 check must catch it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import aiocoap
from aiocoap.numbers.codes import Code

Address = tuple[str, int]


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket towards the server for one device address."""

    def __init__(self, relay: CorruptingRelay, device: Address) -> None:
        self.relay, self.device = relay, device
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        assert self.relay.listener is not None
        self.relay.listener.sendto(self.relay.damage(data), self.device)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: CorruptingRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay.forward(data, addr)


@dataclass
class CorruptingRelay:
    server: Address
    corrupting: bool = True
    damaged: int = 0
    """Blocks damaged so far."""
    listener: asyncio.DatagramTransport | None = None
    upstreams: dict[Address, asyncio.Task[_Upstream]] = field(default_factory=dict)

    async def start(self, host: str = "127.0.0.1") -> int:
        loop = asyncio.get_running_loop()
        self.listener, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(host, 0)
        )
        return int(self.listener.get_extra_info("sockname")[1])

    def close(self) -> None:
        for task in self.upstreams.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                transport = task.result().transport
                if transport is not None:
                    transport.close()
        if self.listener is not None:
            self.listener.close()

    def forward(self, data: bytes, device: Address) -> None:
        task = self.upstreams.get(device)
        if task is None:
            task = self.upstreams[device] = asyncio.ensure_future(self._open(device))

        def send(opened: asyncio.Task[_Upstream]) -> None:
            transport = opened.result().transport
            assert transport is not None
            transport.sendto(data)

        task.add_done_callback(send)

    async def _open(self, device: Address) -> _Upstream:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: _Upstream(self, device), remote_addr=self.server
        )
        return protocol

    def damage(self, data: bytes) -> bytes:
        """The datagram, with a byte of its payload flipped if it is a push's last block."""
        if not self.corrupting:
            return data
        try:
            message = aiocoap.Message.decode(data)
        except Exception:  # not CoAP: pass it on untouched
            return data
        block1 = message.opt.block1
        if message.code not in (Code.PUT, Code.POST) or block1 is None or block1.more \
                or len(message.payload) < 2:  # fmt: skip
            return data
        self.damaged += 1
        return data[:-1] + bytes([data[-1] ^ 0xFF])  # the payload's last byte ends the datagram
