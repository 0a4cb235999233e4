"""The Send operation (LwM2M 1.1 6.4.3, the Information Reporting interface): a registered
device POSTs values to /dp in SenML CBOR or JSON, unasked. Each Send becomes a SEND event, and
the last value of each path a device sent is kept in the database (`SentValues`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code

from ..core.codecs import senml_codec
from ..core.content_format import ContentFormat
from ..core.errors import Lwm2mError, ResponseCode
from ..core.model import ObjectRegistry
from ..core.nodes import Node
from ..core.paths import Lwm2mPath
from ..core.registration import Registration, uri_host
from ..core.requests import SentValue
from ..store import Store
from .events import Event, EventBus, EventKind
from .registration import RegistrationService
from .resources import error_message, peer_address, publish_after_reply
from .security import Credentials, check_binding, claimed_endpoint

log = logging.getLogger(__name__)

SEND_FORMATS = (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON)
MAX_SEND_PAYLOAD = 64 << 10
"""Largest Send payload (bytes) taken."""


@dataclass(frozen=True, slots=True)
class Sent:
    node: Node
    at: float
    """When it arrived (seconds since the epoch)."""


FLUSH_DELAY = 0.5
"""Seconds a Send's values wait in memory, so the Sends of the moment share one transaction."""


class SentValues:
    """The last value of each path each device sent, kept in the database (`sent_values`,
    SenML CBOR). A Send is held in memory and written with the others of the moment in one
    transaction, at most FLUSH_DELAY s later; `of()` reads both, so it sees it at once."""

    def __init__(self, store: Store, model: ObjectRegistry, delay: float = FLUSH_DELAY) -> None:
        self.store = store
        self.model = model
        self.delay = delay
        self._pending: dict[str, dict[Lwm2mPath, Sent]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def keep(self, endpoint: str, nodes: Mapping[Lwm2mPath, Node], at: float) -> None:
        kept = self._pending.setdefault(endpoint, {})
        kept.update((path, Sent(node, at)) for path, node in nodes.items())
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon(),
                                                                   name="sent values")  # fmt: skip

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.delay)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        codec = senml_codec(ContentFormat.SENML_CBOR)
        values = [SentValue(endpoint, path, codec.encode_nodes({path: sent.node}, self.model),
                            sent.at)
                  for endpoint, kept in pending.items() for path, sent in kept.items()]  # fmt: skip
        try:
            async with self.store.transaction() as tx:
                await tx.sent.put(values)
        except Exception:
            log.exception("could not store %d sent values; kept for the next try", len(values))
            for endpoint, kept in pending.items():  # (newer ones, taken meanwhile, win)
                self._pending[endpoint] = kept | self._pending.get(endpoint, {})

    async def of(self, endpoint: str) -> dict[Lwm2mPath, Sent]:
        async with self.store.transaction() as tx:
            stored = await tx.sent.of(endpoint)
        codec = senml_codec(ContentFormat.SENML_CBOR)
        values = {v.path: Sent(node, v.at) for v in stored
                  for node in codec.decode_nodes(v.payload, self.model).values()}  # fmt: skip
        values.update(self._pending.get(endpoint, {}))
        return dict(sorted(values.items()))

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()


class SendResource(coap_resource.Resource):
    """/dp: a Send from a registered device, answered 2.04 (4.04 from a peer not registered)."""

    def __init__(self, registrations: RegistrationService, events: EventBus,
                 credentials: Credentials, model: ObjectRegistry,
                 sent: SentValues) -> None:  # fmt: skip
        super().__init__()
        self.registrations = registrations
        self.events = events
        self.credentials = credentials
        self.model = model
        self.sent = sent
        self._by_address: dict[str, str] = {}
        """A NoSec peer's 'ip:port' -> its endpoint, checked against the registration on use."""

    def get_link_description(self) -> dict[str, str]:
        return {}

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            registration = self._sender(request)
            fmt = request.opt.content_format
            if fmt not in SEND_FORMATS:
                raise Lwm2mError(f"a Send is SenML CBOR (112) or SenML JSON (110), not {fmt}",
                                 code=ResponseCode.UNSUPPORTED_CONTENT_FORMAT)  # fmt: skip
            if len(request.payload) > MAX_SEND_PAYLOAD:
                raise Lwm2mError(f"a Send payload over {MAX_SEND_PAYLOAD} bytes",
                                 code=ResponseCode.REQUEST_ENTITY_TOO_LARGE)  # fmt: skip
            nodes = senml_codec(fmt).decode_nodes(request.payload, self.model)
            if not nodes:
                raise Lwm2mError("a Send carries one or more values",
                                 code=ResponseCode.BAD_REQUEST)  # fmt: skip
            self.sent.keep(registration.endpoint, nodes, time.time())
            publish_after_reply(self.events, [Event(EventKind.SEND, registration,
                                                    {"nodes": nodes})])  # fmt: skip
            return aiocoap.Message(code=Code.CHANGED)
        except Exception as exc:
            return error_message(exc)

    def _sender(self, request: aiocoap.Message) -> Registration:
        """The registration the request comes from: by its DTLS or OSCORE identity, else by
        its address (LwM2M: a device sends from its registration's address)."""
        endpoint = claimed_endpoint(request.remote)
        if endpoint is None:
            host, port = peer_address(request.remote)
            address = f"{uri_host(host)}:{port}"
            if len(self._by_address) > 2 * len(self.registrations) + 1024:
                self._by_address.clear()  # (addresses devices left)
            endpoint = self._by_address.get(address)
            registration = None if endpoint is None else self.registrations.by_endpoint(endpoint)
            if registration is None or registration.address != address:
                registration = self.registrations.by_address(address)
                if registration is not None:
                    self._by_address[address] = registration.endpoint
        else:
            registration = self.registrations.by_endpoint(endpoint)
        if registration is None:
            raise Lwm2mError("Send from a device that is not registered here",
                             code=ResponseCode.NOT_FOUND)  # fmt: skip
        check_binding(registration.endpoint, request.remote, self.credentials)
        return registration
