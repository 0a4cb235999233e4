"""Small helpers over aiocoap internals, shared by the server and the simulated devices."""

from __future__ import annotations

from typing import Any

import aiocoap


def block_exp(size: int) -> int:
    """Block size in bytes (16..1024) to the SZX exponent (RFC 7959)."""
    if size not in (16, 32, 64, 128, 256, 512, 1024):
        raise ValueError(f"block size {size} is not a power of two in 16..1024")
    return size.bit_length() - 5


def message_interface(context: aiocoap.Context) -> Any:
    """The UDP message interface (the socket's protocol object) of a context."""
    for interface in context.request_interfaces:
        messages = getattr(getattr(interface, "token_interface", None), "message_interface", None)
        if messages is not None:
            return messages
    raise RuntimeError("no UDP message interface in the context")


def bound_port(context: aiocoap.Context) -> int:
    return int(message_interface(context).transport.get_extra_info("socket").getsockname()[1])
