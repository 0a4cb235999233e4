"""aiocoap resources: they only translate CoAP to typed calls and typed answers back."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.message import Direction
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK
from aiocoap.transports.udp6 import UDP6EndpointAddress

from ..coap import light_copy, message_interface
from ..core.errors import InvalidRequest, Lwm2mError, ResponseCode
from ..core.registration import parse_register, parse_update
from .events import Event, EventBus
from .registration import RegistrationService
from .security import Credentials, Sessions, check_binding, claimed_endpoint

log = logging.getLogger(__name__)

MAX_REGISTRATION_PAYLOAD = 16 * 1024
"""Largest Register/Update payload: link-format for hundreds of object instances."""
MAX_UPLOADS = 1024
"""Block1 registration uploads under way at once; the oldest is dropped beyond that."""


def error_message(exc: Exception) -> aiocoap.Message:
    """The one mapping of errors to CoAP answers: code plus a text/plain diagnostic payload."""
    if isinstance(exc, Lwm2mError):
        code, text = exc.code, str(exc)
    else:
        log.exception("internal error handling a request", exc_info=exc)
        code, text = ResponseCode.INTERNAL_SERVER_ERROR, "internal server error"
    return aiocoap.Message(code=Code(int(code)), payload=text.encode()[:1024], content_format=0)


def peer_address(remote: object) -> tuple[str, int]:
    """(host, port) of an aiocoap remote, with IPv4-mapped IPv6 addresses unmapped."""
    sockaddr = getattr(remote, "sockaddr", None)
    if sockaddr is None:
        host, _, port = str(getattr(remote, "hostinfo", "")).rpartition(":")
        return host.strip("[]"), int(port)
    host = str(sockaddr[0])
    if host.startswith("::ffff:") and "." in host:
        host = host[len("::ffff:") :]
    return host, int(sockaddr[1])


def publish_after_reply(events: EventBus, to_publish: Sequence[Event]) -> None:
    """Publish once the current reply has been handed to the transport."""
    loop = asyncio.get_running_loop()
    for event in to_publish:
        loop.call_soon(events.publish, event)


class RegistrationResource(coap_resource.Resource):
    """/rd (Register) and, as `RegistrationSubtree`, /rd/<id> (Update, De-register)."""

    rt = "core.rd"

    def __init__(self, service: RegistrationService, events: EventBus,
                 credentials: Credentials, sessions: Sessions) -> None:  # fmt: skip
        super().__init__()
        self.service = service
        self.events = events
        self.credentials = credentials
        self.sessions = sessions
        self._uploads: OrderedDict[tuple[object, ...], bytearray] = OrderedDict()

    def get_link_description(self) -> dict[str, str]:
        return {"rt": self.rt, "ct": "40"}

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        """Block1 uploads are assembled here: in order, capped in size and number."""
        return False

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            block = request.opt.block1
            if block is None:
                return await self._handle(request)
            assembled = self._assemble(request)
            if assembled is None:
                answer = aiocoap.Message(code=Code.CONTINUE)
                answer.opt.block1 = (block.block_number, True, block.size_exponent)
                return answer
            answer = await self._handle(assembled)
            answer.opt.block1 = (block.block_number, False, block.size_exponent)
            return answer
        except Exception as exc:
            return error_message(exc)

    def _assemble(self, request: aiocoap.Message) -> aiocoap.Message | None:
        """The whole request once its last Block1 block is in, else None (2.31 goes out)."""
        block = request.opt.block1
        key = (*peer_address(request.remote), tuple(request.opt.uri_path),
               tuple(request.opt.uri_query), request.code)  # fmt: skip
        received = bytearray() if block.block_number == 0 else self._uploads.pop(key, None)
        if received is None or block.start != len(received):
            raise Lwm2mError(f"Block1 block {block.block_number} is out of sequence",
                             code=ResponseCode.REQUEST_ENTITY_INCOMPLETE)  # fmt: skip
        received += request.payload
        if _too_large(request) or len(received) > MAX_REGISTRATION_PAYLOAD:
            raise Lwm2mError(f"registration payload over {MAX_REGISTRATION_PAYLOAD} bytes",
                             code=ResponseCode.REQUEST_ENTITY_TOO_LARGE)  # fmt: skip
        if not block.more:
            return request.copy(payload=bytes(received), block1=None)
        if len(request.payload) != block.size:
            raise InvalidRequest(f"Block1 block {block.block_number} is shorter than its size")
        self._uploads[key] = received
        while len(self._uploads) > MAX_UPLOADS:
            self._uploads.popitem(last=False)
        return None

    async def _handle(self, request: aiocoap.Message) -> aiocoap.Message:
        if _too_large(request):
            raise Lwm2mError(f"registration payload over {MAX_REGISTRATION_PAYLOAD} bytes",
                             code=ResponseCode.REQUEST_ENTITY_TOO_LARGE)  # fmt: skip
        path = tuple(request.opt.uri_path)
        query = tuple(request.opt.uri_query)
        fmt = request.opt.content_format
        fmt_value = None if fmt is None else int(fmt)
        host, port = peer_address(request.remote)
        if not path:
            if request.code != Code.POST:
                raise Lwm2mError("only POST registers", code=ResponseCode.METHOD_NOT_ALLOWED)
            params = parse_register(query, request.payload, fmt_value)
            assert params.endpoint is not None
            check_binding(params.endpoint, request.remote, self.credentials)
            secure = claimed_endpoint(request.remote) is not None
            registration, events = await self.service.register(params, host, port, secure=secure)
            self.sessions.remember(registration.endpoint, request.remote)
            publish_after_reply(self.events, events)
            return aiocoap.Message(code=Code.CREATED, location_path=("rd", registration.id))
        if len(path) != 1:
            raise Lwm2mError(f"no resource /rd/{'/'.join(path)}", code=ResponseCode.NOT_FOUND)
        current = self.service.get(path[0])
        if current is not None:
            check_binding(current.endpoint, request.remote, self.credentials)
            self.sessions.remember(current.endpoint, request.remote)
        if request.code == Code.POST:
            params = parse_update(query, request.payload, fmt_value)
            _, events = await self.service.update(path[0], params, host, port)
            publish_after_reply(self.events, events)
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.DELETE:
            if query or request.payload:
                raise InvalidRequest("de-register takes no query and no payload")
            _, events = await self.service.deregister(path[0])
            publish_after_reply(self.events, events)
            return aiocoap.Message(code=Code.DELETED)
        raise Lwm2mError(
            f"{request.code} not allowed on /rd/<id>", code=ResponseCode.METHOD_NOT_ALLOWED
        )


def _too_large(request: aiocoap.Message) -> bool:
    block1, size1 = request.opt.block1, request.opt.size1
    if size1 is not None and size1 > MAX_REGISTRATION_PAYLOAD:
        return True
    if block1 is not None and (block1.block_number + 1) * block1.size > MAX_REGISTRATION_PAYLOAD:
        return True
    return len(request.payload) > MAX_REGISTRATION_PAYLOAD


class RegistrationSubtree(RegistrationResource, coap_resource.PathCapable):
    """aiocoap hands a path-capable resource only the paths below its own."""


UPDATE_OPTIONS = frozenset({3, 7, 11, 12, 15})
"""Uri-Host, Uri-Port, Uri-Path, Content-Format, Uri-Query: all an Update may carry to be
answered on the direct path (no Block1, no OSCORE, nothing unknown)."""
BLOCK_OPTIONS = frozenset({3, 7, 11, 17, 23, 28})
"""Uri-Host, Uri-Port, Uri-Path, Accept, Block2, Size2: what a package block request may carry
to be answered on the direct path."""


PACE = 0.5
"""Longest a package block waits for a busy registration interface (or `yield_max`, if
shorter): well under the device's first retransmission (ACK_TIMEOUT 2 s)."""


def answer_updates_directly(
    context: aiocoap.Context, resource: RegistrationResource,
    blocks: Callable[[aiocoap.Message], aiocoap.Message | None] | None = None,
    registrations: RegistrationService | None = None, pace: float = PACE,
) -> None:  # fmt: skip
    """Updates (a confirmable POST /rd/<id>) are most of a fleet's traffic, and package blocks
    (a confirmable GET /fw/<package> with Block2) most of its bytes; take them from the NoSec
    socket straight to their handlers and answer with a piggybacked ACK, without aiocoap's
    exchange, token, pipe and site layers (half of what an Update costs). Both are idempotent,
    so a retransmission is simply answered again. `blocks` answers a package block request, or
    None (a package not in memory yet); that, and anything else, goes the usual way. While
    `registrations` is busy a block's answer waits for it to drain (at most `pace` seconds),
    so package transfers give way to a burst at /rd."""
    interface = message_interface(context)
    receive = interface.datagram_msg_received
    loop = asyncio.get_running_loop()
    answering: set[asyncio.Task[None]] = set()

    def datagram(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        if len(data) > 4 and data[0] >> 4 == 4:  # v1, confirmable
            if data[1] == 2:  # POST
                request = _direct(data, ancdata, address, interface, "rd", UPDATE_OPTIONS)
                if request is not None:
                    task = loop.create_task(_answer(request, resource, interface))
                    answering.add(task)
                    task.add_done_callback(answering.discard)
                    return
            elif data[1] == 1 and blocks is not None:  # GET
                request = _direct(data, ancdata, address, interface, "fw", BLOCK_OPTIONS)
                answer = None if request is None else blocks(request)
                if answer is not None:
                    answer.mtype, answer.mid, answer.token = ACK, request.mid, request.token
                    answer.remote = request.remote
                    if registrations is not None and registrations.busy:
                        task = loop.create_task(_paced(answer, registrations, pace, interface))
                        answering.add(task)
                        task.add_done_callback(answering.discard)
                    else:
                        interface.send(answer)
                    return
        receive(data, ancdata, flags, address)

    interface.datagram_msg_received = datagram


def _direct(data: bytes, ancdata: Any, address: Any, interface: Any, first: str,
            options: frozenset[int]) -> Any:  # fmt: skip
    """The request in `data` if its path is /<first>/<one segment> and it has only `options`."""
    try:
        pktinfo = next((d for level, kind, d in ancdata
                        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO), None)
        request = aiocoap.Message.decode(data, UDP6EndpointAddress(address, interface,
                                                                   pktinfo=pktinfo))
    except Exception:  # (aiocoap's own path answers or drops it)
        return None
    path = request.opt.uri_path
    if len(path) != 2 or path[0] != first or any(
            o.number not in options for o in request.opt.option_list()):  # fmt: skip
        return None
    request.direction = Direction.INCOMING
    return request


async def _paced(answer: aiocoap.Message, registrations: RegistrationService, pace: float,
                 interface: Any) -> None:  # fmt: skip
    await registrations.drained(pace)
    interface.send(answer)


async def _answer(request: aiocoap.Message, resource: RegistrationResource,
                  interface: Any) -> None:  # fmt: skip
    stripped = light_copy(request, uri_path=request.opt.uri_path[1:])
    answer = await resource.render(stripped)
    answer.mtype, answer.mid, answer.token = ACK, request.mid, request.token
    answer.remote = request.remote
    interface.send(answer)


def add_registration_interface(
    site: coap_resource.Site, service: RegistrationService, events: EventBus,
    credentials: Credentials, sessions: Sessions,
) -> RegistrationSubtree:  # fmt: skip
    """Register /rd and /rd/<id>; returns the latter, for `answer_updates_directly`."""
    site.add_resource(["rd"], RegistrationResource(service, events, credentials, sessions))
    subtree = RegistrationSubtree(service, events, credentials, sessions)
    site.add_resource(["rd"], subtree)
    return subtree
