"""Loopback networking for tests: free ports, an aiocoap client context, a raw UDP peer that
sends and receives exact datagrams, and hand-built CoAP messages (message id, token and type
chosen by the test)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code

LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 nothing listens on right now (for a server started later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def coap_client() -> AsyncIterator[aiocoap.Context]:
    """An aiocoap client context over plain UDP, shut down on the way out."""
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        yield context
    finally:
        await context.shutdown()


async def coap_request(client: aiocoap.Context, port: int, code: Code, path: str,
                       query: str = "", payload: str = "") -> aiocoap.Message:  # fmt: skip
    """One request to 127.0.0.1:`port`; its answer within 5 s."""
    uri = f"coap://{LOOPBACK}:{port}{path}" + (f"?{query}" if query else "")
    msg = aiocoap.Message(code=code, uri=uri, payload=payload.encode())
    async with asyncio.timeout(5):
        return await client.request(msg).response


@contextmanager
def udp_peer() -> Iterator[socket.socket]:
    """A non-blocking UDP socket bound to a free port on 127.0.0.1: a raw CoAP peer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.setblocking(False)
        yield sock


async def send(peer: socket.socket, data: bytes, port: int) -> None:
    await asyncio.get_running_loop().sock_sendto(peer, data, (LOOPBACK, port))


async def datagram(peer: socket.socket, timeout: float = 5.0) -> bytes:
    """The next datagram `peer` receives."""
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(peer, 2048), timeout)


async def receive(peer: socket.socket, timeout: float = 5.0) -> aiocoap.Message:
    """The next datagram `peer` receives, decoded as CoAP."""
    return aiocoap.Message.decode(await datagram(peer, timeout))


async def exchange(peer: socket.socket, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` to 127.0.0.1:`port` and return the next datagram `peer` receives."""
    await send(peer, data, port)
    return await datagram(peer, timeout)


def raw_message(mtype: Any, mid: int, code: Code, token: bytes = b"", payload: bytes = b"",
                **options: Any) -> aiocoap.Message:  # fmt: skip
    """A CoAP message with the type, message id and token given (aiocoap's options as
    keywords: uri_path=, block2=, ...), to encode and send from a raw peer."""
    msg = aiocoap.Message(code=code, payload=payload, **options)
    msg.mtype, msg.mid, msg.token = mtype, mid, token
    return msg
