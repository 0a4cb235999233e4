"""Small helpers over aiocoap internals, shared by the server and the simulated devices."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap import error as coap_error
from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.types import ACK, CON, RST
from aiocoap.pipe import Pipe, error_to_message, run_driving_pipe
from aiocoap.protocol import Request
from aiocoap.transports.udp6 import MessageInterfaceUDP6


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


def token_manager(context: aiocoap.Context) -> Any:
    """The token manager over the UDP socket of a context."""
    for interface in context.request_interfaces:
        messages = getattr(getattr(interface, "token_interface", None), "message_interface", None)
        if messages is not None:
            return interface
    raise RuntimeError("no UDP message interface in the context")


def message_interface(context: aiocoap.Context) -> Any:
    """The UDP message interface (the socket's protocol object) of a context."""
    return token_manager(context).token_interface.message_interface


TUNING = TransportTuning()


def send_datagram(udp: Any, data: bytes, remote: Any) -> None:
    """`data` to a UDP remote from the message interface's socket, from the local address the
    remote was reached at."""
    ancdata = [] if remote.pktinfo is None else [
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, remote.pktinfo)]  # fmt: skip
    udp.transport.sendmsg(data, ancdata, 0, remote.sockaddr)


@dataclass(eq=False)
class _Exchange:
    address: Any
    mid: int
    token: bytes
    data: bytes
    remote: Any
    future: asyncio.Future[aiocoap.Message]
    timeout: float
    tries: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class Exchanges:
    """Confirmable requests sent straight from a UDP context's socket, for the many small
    requests of a block-wise package transfer, whose aiocoap exchange, token and pipe layers
    cost several times the datagram. RFC 7252 4.2 retransmission (ACK_TIMEOUT 2 s, random factor
    1.5, 4 retransmissions); the answer is the piggybacked ACK, or a separate response matched
    on its token (acknowledged when confirmable); a reset fails the request. Message ids and
    tokens come from the context's own counters, so they never collide with aiocoap's."""

    def __init__(self, context: aiocoap.Context) -> None:
        self._tokens = token_manager(context)
        self._messages = self._tokens.token_interface
        self._udp = self._messages.message_interface
        if not isinstance(self._udp, MessageInterfaceUDP6):
            raise RuntimeError("no NoSec UDP socket in the context")
        self._by_mid: dict[tuple[Any, int], _Exchange] = {}
        self._by_token: dict[tuple[Any, bytes], _Exchange] = {}
        self._closed = False
        self._loop = asyncio.get_running_loop()
        receive = self._udp.datagram_msg_received

        def datagram(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
            if not self._received(data, address):
                receive(data, ancdata, flags, address)

        self._udp.datagram_msg_received = datagram

    def handles(self, remote: Any) -> bool:
        """Whether `remote` is a plain UDP peer of this socket (not DTLS, not OSCORE)."""
        return getattr(remote, "interface", None) is self._udp

    async def request(self, msg: aiocoap.Message) -> aiocoap.Message:
        """Send `msg` (its remote set, one datagram) as a confirmable request; its answer."""
        if self._closed:
            raise coap_error.LibraryShutdown("the socket closed")
        msg.mtype = CON
        msg.mid = self._messages._next_message_id()
        msg.token = self._tokens.next_token()
        address = msg.remote.sockaddr[:2]
        exchange = _Exchange(address, msg.mid, msg.token, msg.encode(), msg.remote,
                             self._loop.create_future(),
                             random.uniform(1.0, TUNING.ACK_RANDOM_FACTOR) * TUNING.ACK_TIMEOUT)
        self._by_mid[(address, msg.mid)] = exchange
        self._by_token[(address, msg.token)] = exchange
        try:
            self._send(exchange)
            return await exchange.future
        finally:
            if exchange.timer is not None:
                exchange.timer.cancel()
            self._by_mid.pop((address, exchange.mid), None)
            self._by_token.pop((address, exchange.token), None)

    def _send(self, exchange: _Exchange) -> None:
        if exchange.future.done():
            return
        if exchange.tries > TUNING.MAX_RETRANSMIT:
            exchange.future.set_exception(coap_error.ConRetransmitsExceeded(
                f"no answer from {exchange.address} after {exchange.tries} tries"))  # fmt: skip
            return
        send_datagram(self._udp, exchange.data, exchange.remote)
        exchange.timer = self._loop.call_later(exchange.timeout, self._send, exchange)
        exchange.tries += 1
        exchange.timeout *= 2

    def close(self) -> None:
        """Fail every request in flight and refuse new ones (their socket is about to close)."""
        self._closed = True
        for exchange in {*self._by_mid.values(), *self._by_token.values()}:
            if exchange.timer is not None:
                exchange.timer.cancel()
            if not exchange.future.done():
                exchange.future.set_exception(coap_error.LibraryShutdown("the socket closed"))

    def _received(self, data: bytes, address: Any) -> bool:
        """Take an answer to one of our exchanges; False for any other datagram."""
        if len(data) < 4 or data[0] >> 6 != 1:
            return False
        mtype, mid, address = (data[0] >> 4) & 3, int.from_bytes(data[2:4], "big"), address[:2]
        if mtype in (ACK, RST):
            exchange = self._by_mid.pop((address, mid), None)
            if exchange is None:
                return False
            if exchange.timer is not None:
                exchange.timer.cancel()
                exchange.timer = None
            if mtype == RST:
                self._fail(exchange, coap_error.MessageError(f"{exchange.address} reset it"))
                return True
            if data[1] == 0:  # an empty ACK: the answer follows separately
                return True
        elif data[1] >= 64:  # a separate response (CON or NON)
            token = data[4 : 4 + (data[0] & 0x0F)]
            exchange = self._by_token.get((address, token))
            if exchange is None:
                return False
            if mtype == CON:
                ack = bytes([0x60, 0, data[2], data[3]])
                send_datagram(self._udp, ack, exchange.remote)
        else:
            return False
        try:
            answer = aiocoap.Message.decode(data, exchange.remote)
        except Exception as exc:
            self._fail(exchange, coap_error.UnparsableMessage(str(exc)))
            return True
        if answer.token != exchange.token:
            self._fail(exchange, coap_error.MessageError("answer with another token"))
        elif not exchange.future.done():
            exchange.future.set_result(answer)
        return True

    @staticmethod
    def _fail(exchange: _Exchange, error: Exception) -> None:
        if not exchange.future.done():
            exchange.future.set_exception(error)


def compact_duplicates(context: aiocoap.Context) -> None:
    """Duplicate detection (RFC 7252 4.5) for the requests of a UDP context, kept compact.
    aiocoap keeps each received request's answer as a Message with a timer of its own for the
    exchange lifetime (247 s): after a burst of registrations that was most of the server's
    memory, and the allocator kept it after they expired. Here an entry is the encoded answer,
    and one timer sweeps the expired ones."""
    manager = token_manager(context).token_interface
    udp = manager.message_interface
    loop = asyncio.get_running_loop()
    lifetime = TUNING.EXCHANGE_LIFETIME
    recent: dict[tuple[Any, int], list[Any]] = {}
    """(address, message id) -> [expiry, encoded answer or None, answer's remote]"""
    order: deque[tuple[float, tuple[Any, int]]] = deque()
    sweeping: list[asyncio.TimerHandle] = []

    def sweep() -> None:
        sweeping.clear()
        now = loop.time()
        while order and order[0][0] <= now:
            _, key = order.popleft()
            entry = recent.get(key)
            if entry is not None and entry[0] <= now:
                del recent[key]
        if order:
            sweeping.append(loop.call_at(order[0][0] + 1.0, sweep))

    def deduplicate(message: aiocoap.Message) -> bool:
        key = (message.remote.sockaddr[:2], message.mid)
        entry = recent.get(key)
        if entry is not None:
            if message.mtype is CON and entry[1] is not None:
                send_datagram(udp, entry[1], entry[2])
            return True
        expiry = loop.time() + lifetime
        recent[key] = [expiry, None, None]
        order.append((expiry, key))
        if not sweeping:
            sweeping.append(loop.call_at(expiry + 1.0, sweep))
        return False

    def store(message: aiocoap.Message) -> None:
        entry = recent.get((message.remote.sockaddr[:2], message.mid))
        if entry is not None:
            entry[1], entry[2] = message.encode(), message.remote

    manager._deduplicate_message = deduplicate
    manager._store_response_for_duplicates = store
    manager._recent_messages = recent  # (where aiocoap kept its own; tests look there)


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


def widen_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a `size`-byte receive buffer (beyond net.core.rmem_max where the process may:
    SO_RCVBUFFORCE needs CAP_NET_ADMIN); the size the kernel granted."""
    for option in (socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", None)):
        if option is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
            with contextlib.suppress(PermissionError):
                sock.setsockopt(socket.SOL_SOCKET, option, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


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
    compact_duplicates(context)
    return context
