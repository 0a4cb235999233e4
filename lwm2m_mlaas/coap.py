"""Small helpers over aiocoap internals, shared by the server and the simulated devices."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.pipe import Pipe, error_to_message, run_driving_pipe
from aiocoap.protocol import Request


def light_copy(msg: aiocoap.Message, payload: bytes | None = None,
               **options: Any) -> aiocoap.Message:  # fmt: skip
    """`msg` with another payload or options, sharing its option values (they are immutable)
    where Message.copy deep-copies them: per block and per request this is most of its cost."""
    new = aiocoap.Message(code=msg.code, payload=msg.payload if payload is None else payload,
                          transport_tuning=msg.transport_tuning)  # fmt: skip
    new.mtype, new.mid, new.token = msg.mtype, msg.mid, msg.token
    new.remote, new.direction = msg.remote, msg.direction
    for option in msg.opt.option_list():
        new.opt.add_option(option)
    for name, value in options.items():
        setattr(new.opt, name, value)
    return new


class Site(coap_resource.Site):
    """aiocoap's Site, handing children their path-stripped request as a light copy. Our
    resources never ask a request for its URI (get_request_uri), so the original one is not
    worked out for every request as aiocoap's Site does."""

    def _find_child_and_pathstripped_message(self, request: aiocoap.Message) -> Any:
        path = request.opt.uri_path
        if path in self._resources:
            return self._resources[path], light_copy(request, uri_path=())
        if not path:
            raise KeyError()
        remainder, prefix = [path[-1]], path[:-1]
        while prefix:
            if prefix in self._subsites:
                stripped = light_copy(request, uri_path=[] if remainder == [""] else remainder)
                return self._subsites[prefix], stripped
            remainder.insert(0, prefix[-1])
            prefix = prefix[:-1]
        raise KeyError()


class ServerContext(aiocoap.Context):
    """aiocoap's Context without naming each render and request task after the message's repr
    (which formats its addresses and options: a tenth of the cost of an Update)."""

    def render_to_pipe(self, pipe: Any) -> None:
        run_driving_pipe(error_to_message(pipe, self.log), self._render_to_pipe(pipe),
                         name="render")  # fmt: skip

    def request(self, request_message: aiocoap.Message, handle_blockwise: bool = True) -> Any:
        if handle_blockwise:  # (aiocoap's block-wise layer sends each block through here)
            return super().request(request_message, handle_blockwise=True)
        pipe = Pipe(request_message, self.log)
        result = Request(pipe, self.loop, self.log)
        self.loop.create_task(self._send(pipe), name="request")
        return result

    async def _send(self, pipe: Any) -> None:
        try:
            interface = await self.find_remote_and_interface(pipe.request)
            interface.request(pipe)
        except Exception as exc:
            pipe.add_exception(exc)


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


BAD_OPTION = bytes([0x82])
"""4.02 Bad Option."""


def answer_undecodable_options(context: aiocoap.Context) -> None:
    """aiocoap 0.4.17 drops a request whose Uri-Path, Uri-Query or Uri-Host is not UTF-8
    without an answer (its decoder raises UnicodeDecodeError in the socket callback); answer a
    confirmable one with 4.02 Bad Option instead, as RFC 7252 5.4.1 asks."""
    interface = message_interface(context)
    receive = interface.datagram_msg_received

    def guarded(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        try:
            receive(data, ancdata, flags, address)
        except UnicodeDecodeError:
            try:
                aiocoap.Message.decode(data)
            except UnicodeDecodeError:
                reply = _bad_option(data)
                if reply is not None:
                    interface.transport.sendmsg(reply, [], 0, address)
                return
            raise

    interface.datagram_msg_received = guarded


def _bad_option(request: bytes) -> bytes | None:
    """The piggybacked 4.02 answer to a confirmable request datagram, else None."""
    if len(request) < 4 or request[0] >> 6 != 1 or (request[0] >> 4) & 3 != 0:
        return None
    token_length = request[0] & 0x0F
    if token_length > 8 or len(request) < 4 + token_length:
        return None
    header = bytes([0x60 | token_length]) + BAD_OPTION + request[2:4]
    return header + request[4 : 4 + token_length] + b"\xffan option value is not UTF-8"


def bound_port(context: aiocoap.Context) -> int:
    return int(message_interface(context).transport.get_extra_info("socket").getsockname()[1])


async def server_context(site: coap_resource.Resource, host: str, port: int,
                         oscore: Any = None) -> aiocoap.Context:  # fmt: skip
    """A UDP context bound to host:port that also originates requests from that port; with
    `oscore` credentials (a `find_oscore` lookup) it also serves and sends OSCORE.

    aiocoap sets SO_REUSEPORT by default; with it, sockets bound to port 0 can share one
    ephemeral port (datagrams then reach the wrong device) and a second server can bind a
    busy port without error. Ports here are exclusive.
    """
    os.environ["AIOCOAP_REUSE_PORT"] = "0"
    if oscore is None:
        context = await ServerContext.create_server_context(site, bind=(host, port),
                                                            transports=["udp6"])  # fmt: skip
    else:
        from .oscore import oscore_site

        # "oscore" first: otherwise udp6 claims OSCORE remotes and sends them unprotected
        context = await ServerContext.create_server_context(
            oscore_site(site, oscore), bind=(host, port), server_credentials=oscore,
            transports=["oscore", "udp6"])  # fmt: skip
    answer_undecodable_options(context)
    return context
