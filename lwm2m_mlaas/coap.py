"""Small helpers over aiocoap internals, shared by the server and the simulated devices."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource


def block_exp(size: int) -> int:
    """Block size in bytes (16..1024) to the SZX exponent (RFC 7959)."""
    if size not in (16, 32, 64, 128, 256, 512, 1024):
        raise ValueError(f"block size {size} is not a power of two in 16..1024")
    return size.bit_length() - 5


def set_block_size(remote: Any, exponent: int) -> None:
    """Block-wise size toward a peer; aiocoap's DTLS client connections keep their own."""
    with contextlib.suppress(AttributeError):
        remote.maximum_block_size_exp = exponent


def message_interface(context: aiocoap.Context) -> Any:
    """The UDP message interface (the socket's protocol object) of a context."""
    for interface in context.request_interfaces:
        messages = getattr(getattr(interface, "token_interface", None), "message_interface", None)
        if messages is not None:
            return messages
    raise RuntimeError("no UDP message interface in the context")


def bound_port(context: aiocoap.Context) -> int:
    return int(message_interface(context).transport.get_extra_info("socket").getsockname()[1])


async def server_context(site: coap_resource.Resource, host: str, port: int) -> aiocoap.Context:
    """A UDP context bound to host:port that also originates requests from that port.

    aiocoap sets SO_REUSEPORT by default; with it, sockets bound to port 0 can share one
    ephemeral port (datagrams then reach the wrong device) and a second server can bind a
    busy port without error. Ports here are exclusive.
    """
    os.environ["AIOCOAP_REUSE_PORT"] = "0"
    return await aiocoap.Context.create_server_context(site, bind=(host, port), transports=["udp6"])
