"""Device management requests from the server's own socket to a registered address:
translates core `DownlinkRequest`s to aiocoap messages and answers back to typed `Response`s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

import aiocoap
from aiocoap import error as coap_error
from aiocoap.numbers.codes import Code
from aiocoap.transports.udp6 import UDP6EndpointAddress

from ..coap import Exchanges, block_exp, light_copy
from ..core.codecs import codec_for, encode, senml_codec
from ..core.content_format import ContentFormat
from ..core.errors import Lwm2mError, ResponseCode
from ..core.linkformat import parse_link_format
from ..core.model import ObjectRegistry
from ..core.nodes import ResourceType
from ..core.registration import Registration
from ..core.requests import DownlinkRequest, Operation, Response
from .security import Sessions

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(
        self, registration: Registration, request: DownlinkRequest, timeout: float
    ) -> Response: ...


def device_uri(registration: Registration) -> str:
    return f"coap://{registration.address}"


def uri_path(registration: Registration, request: DownlinkRequest) -> tuple[str, ...]:
    root = tuple(s for s in registration.root_path.split("/") if s)
    return root + request.path.segments


def write_format(
    registration: Registration, request: DownlinkRequest, model: ObjectRegistry
) -> ContentFormat:
    """The payload format of a Write or Create the caller left open."""
    if request.content_format is not None:
        return request.content_format
    path = request.path
    if path.is_resource and path.object_id is not None and path.resource_id is not None:
        resource = model.resource(path.object_id, path.resource_id)
        if resource is not None and not resource.multiple:
            return (
                ContentFormat.OPAQUE if resource.type is ResourceType.OPAQUE else ContentFormat.TEXT
            )
    if registration.lwm2m_version == "1.0":
        return ContentFormat.TLV
    return ContentFormat.SENML_CBOR


def payload_of(
    registration: Registration, request: DownlinkRequest, model: ObjectRegistry
) -> tuple[bytes, ContentFormat | None]:
    """The encoded payload and its format, encoding `request.node` where needed."""
    if request.operation is Operation.EXECUTE:
        return request.arguments.encode(), None
    if request.operation in COMPOSITE_READS:
        codec = senml_codec(request.content_format)
        return codec.encode_paths(request.paths), codec.content_format
    if request.payload is not None:
        return request.payload, request.content_format
    if request.node is None:
        return b"", None
    fmt = write_format(registration, request, model)
    return encode(request.node, request.path, model, fmt), fmt


COMPOSITE_READS = (Operation.READ_COMPOSITE, Operation.OBSERVE_COMPOSITE)
"""FETCH / with the paths as SenML names."""

_METHODS = {
    Operation.READ: Code.GET,
    Operation.DISCOVER: Code.GET,
    Operation.OBSERVE: Code.GET,
    Operation.EXECUTE: Code.POST,
    Operation.CREATE: Code.POST,
    Operation.DELETE: Code.DELETE,
    Operation.WRITE_ATTRIBUTES: Code.PUT,
    Operation.READ_COMPOSITE: Code.FETCH,
    Operation.WRITE_COMPOSITE: Code.iPATCH,
    Operation.OBSERVE_COMPOSITE: Code.FETCH,
}


def build_message(
    registration: Registration, request: DownlinkRequest, model: ObjectRegistry
) -> aiocoap.Message:
    if request.operation is Operation.WRITE:
        code = Code.PUT if request.replace else Code.POST
    else:
        code = _METHODS[request.operation]
    payload, fmt = payload_of(registration, request, model)
    msg = aiocoap.Message(code=code, uri=device_uri(registration), payload=payload)
    msg.opt.uri_path = uri_path(registration, request)
    sends_content = request.operation in (
        Operation.WRITE,
        Operation.CREATE,
        Operation.WRITE_COMPOSITE,
        *COMPOSITE_READS,
    )
    if sends_content and fmt is not None:
        msg.opt.content_format = int(fmt)
    if request.operation is Operation.DISCOVER:
        msg.opt.accept = int(ContentFormat.LINK)
    elif request.operation in (Operation.READ, Operation.OBSERVE) and \
            request.content_format is not None:  # fmt: skip
        msg.opt.accept = int(request.content_format)
    if request.operation is Operation.WRITE_ATTRIBUTES:
        msg.opt.uri_query = tuple(
            name if value is None else f"{name}={value}"
            for name, value in request.attributes.items()
        )
    if request.operation in (Operation.OBSERVE, Operation.OBSERVE_COMPOSITE):
        msg.opt.observe = 0
    return msg


def to_response(
    request: DownlinkRequest, answer: aiocoap.Message, model: ObjectRegistry
) -> Response:
    """The device's answer as a typed Response; payloads of successful reads are decoded."""
    try:
        code = ResponseCode(int(answer.code))
    except ValueError:
        return Response(ResponseCode.BAD_GATEWAY, error=f"unexpected answer code {answer.code}")
    fmt = answer.opt.content_format
    if code is ResponseCode.CONTINUE:
        return Response(
            ResponseCode.REQUEST_ENTITY_INCOMPLETE,
            error="device answered 2.31 Continue to the last block",
        )
    if not code.is_success:
        text = answer.payload.decode("utf-8", "replace") or None
        return Response(code, payload=answer.payload, content_format=fmt, error=text)
    location = None
    if answer.opt.location_path:
        location = "/" + "/".join(answer.opt.location_path)
    base = Response(code, payload=answer.payload, content_format=fmt, location=location)
    if not answer.payload or request.operation not in (
        Operation.READ,
        Operation.OBSERVE,
        Operation.DISCOVER,
        *COMPOSITE_READS,
    ):
        return base
    try:
        if request.operation is Operation.DISCOVER:
            return replace(base, links=parse_link_format(answer.payload.decode("utf-8")))
        if request.operation in COMPOSITE_READS:
            nodes = senml_codec(fmt).decode_nodes(answer.payload, model, request.paths)
            return replace(base, nodes=nodes)
        decoded = codec_for(fmt if fmt is not None else ContentFormat.TEXT).decode(
            answer.payload, request.path, model
        )
        return replace(base, node=decoded)
    except (Lwm2mError, UnicodeDecodeError) as exc:
        return replace(base, error=f"undecodable {fmt} payload: {exc}")


REMOTES = 4096
"""Resolved device addresses a sender keeps."""


class CoapSender:
    """Sends downlink requests through the server's aiocoap context (so they leave from the
    registration port, as LwM2M requires)."""

    def __init__(self, model: ObjectRegistry, block_size: int,
                 sessions: Sessions | None = None) -> None:  # fmt: skip
        self._context: aiocoap.Context | None = None
        self.model = model
        self.block_exp = block_exp(block_size)
        self.sessions = sessions or Sessions()
        self._remotes: OrderedDict[str, UDP6EndpointAddress] = OrderedDict()
        """NoSec device addresses as resolved (aiocoap resolves each request's URI with
        getaddrinfo in a thread), the most recently used ones."""
        self.pace: Callable[[], Awaitable[None]] | None = None
        """Awaited before each block of an upload (the server gives way to /rd with it)."""
        self.exchanges: Exchanges | None = None
        """Package blocks to plain UDP devices leave straight from the socket."""

    def attach(self, context: aiocoap.Context) -> None:
        """Send through the server's bound context (at start)."""
        self._context = context
        with contextlib.suppress(RuntimeError):  # (none on a DTLS-only server)
            self.exchanges = Exchanges(context)

    @property
    def context(self) -> aiocoap.Context:
        assert self._context is not None, "server not started"
        return self._context

    async def prepare(
        self, registration: Registration, request: DownlinkRequest
    ) -> aiocoap.Message:
        msg = build_message(registration, request, self.model)
        if registration.secure:  # back over the device's DTLS session or OSCORE context
            await self.sessions.route(msg, registration.endpoint, self.context)
            await self.context.find_remote_and_interface(msg)
        elif (remote := self._remotes.get(registration.address)) is not None:
            self._remotes.move_to_end(registration.address)
            msg.remote = remote
        else:
            await self.context.find_remote_and_interface(msg)
            if isinstance(msg.remote, UDP6EndpointAddress):
                self._remotes[registration.address] = msg.remote
                if len(self._remotes) > REMOTES:
                    self._remotes.popitem(last=False)
        msg.remote.maximum_block_size_exp = self.block_exp
        return msg

    async def send(
        self, registration: Registration, request: DownlinkRequest, timeout: float
    ) -> Response:
        try:
            async with asyncio.timeout(timeout):
                msg = await self.prepare(registration, request)
                if len(msg.payload) > 2 ** (self.block_exp + 4):
                    answer = await self._upload(msg)
                else:
                    answer = await self.context.request(msg).response
        except TimeoutError:
            return Response.timeout()
        except coap_error.NetworkError as exc:
            return Response(
                ResponseCode.SERVICE_UNAVAILABLE, error=f"device unreachable: {exc}", timed_out=True
            )
        except Lwm2mError as exc:
            return Response(exc.code, error=str(exc))
        return to_response(request, answer, self.model)

    async def _upload(self, msg: aiocoap.Message) -> aiocoap.Message:
        """Block1 transfer (RFC 7959 2.5) that checks the answer to every block: 2.31 with the
        same block number until the last, smaller blocks when the device asks for them."""
        payload, exponent = msg.payload, self.block_exp
        offset = number = 0
        while True:
            size = 2 ** (exponent + 4)
            more = offset + size < len(payload)
            block = light_copy(msg, payload[offset : offset + size])
            block.opt.block1 = (number, more, exponent)
            if number == 0:
                block.opt.size1 = len(payload)
            if self.pace is not None:
                await self.pace()
            if self.exchanges is not None and self.exchanges.handles(block.remote):
                answer = await self.exchanges.request(block)
            else:
                answer = await self.context.request(block, handle_blockwise=False).response
            acknowledged = answer.opt.block1
            if (
                answer.code == Code.REQUEST_ENTITY_TOO_LARGE
                and acknowledged is not None
                and acknowledged.size_exponent < exponent
                and offset == 0
            ):
                exponent = acknowledged.size_exponent  # start again at the device's size
                continue
            if not more:
                return answer
            if answer.code != Code.CONTINUE:
                if answer.code.is_successful():
                    raise Lwm2mError(
                        f"device answered {answer.code} to block {number} of {len(payload)} "
                        "bytes instead of 2.31 Continue",
                        code=ResponseCode.REQUEST_ENTITY_INCOMPLETE,
                    )
                return answer
            if acknowledged is None or acknowledged.block_number != number:
                raise Lwm2mError(
                    f"device acknowledged {acknowledged} to block {number}",
                    code=ResponseCode.REQUEST_ENTITY_INCOMPLETE,
                )
            offset += size
            exponent = min(exponent, acknowledged.size_exponent)
            number = offset // 2 ** (exponent + 4)

