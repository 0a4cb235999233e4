"""One place that wires the LwM2M server together: `build_server(config)`."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource

from ..coap import (
    ServerContext,
    Site,
    bound_port,
    message_interface,
    server_context,
    widen_receive_buffer,
)
from ..config import ServerConfig
from ..core.codecs import senml_codec
from ..core.content_format import ContentFormat
from ..core.ddf import load_default
from ..core.errors import Lwm2mError, UnknownRegistration
from ..core.model import ObjectRegistry
from ..core.nodes import Node
from ..core.paths import Lwm2mPath
from ..core.registration import Registration, uri_host
from ..core.requests import DownlinkRequest, Operation, Response
from ..store import Store
from .bootstrap import BootstrapResource, BootstrapService
from .cluster import Membership
from .downlink import CoapSender
from .events import Event, EventBus, EventKind
from .firmware import FirmwareResource, PackageStore
from .observation import ObservationService, Target
from .queue import Queued, QueueModeSender
from .registration import MOVED, RegistrationService
from .resources import PACE, add_registration_interface, answer_updates_directly
from .security import (
    Credentials,
    Sessions,
    add_dtls_transport,
    dtls_available,
    dtls_port,
    dtls_socket,
)
from .send import SendResource, SentValues

log = logging.getLogger(__name__)


class Lwm2mServer:
    """The running server: CoAP endpoint, registrations, downlink requests, observations.
    Every part is built here; `start()` loads what is stored and binds the sockets."""

    def __init__(self, config: ServerConfig, model: ObjectRegistry, store: Store, *,
                 owns_store: bool = False) -> None:  # fmt: skip
        self.config = config
        self.model = model
        self.store = store
        self._owns_store = owns_store
        """Close the store on stop (build_server made it); else its owner closes it."""
        self.events = EventBus()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.context: aiocoap.Context | None = None
        self.credentials = Credentials()
        self.sessions = Sessions(self.credentials)
        self._dtls: Any = None
        self.registrations = RegistrationService(
            store, self.events, grace=config.lifetime_grace, busy_at=config.registration_busy,
            shared=lambda: self.membership.shared)
        self.site = Site()
        self.site.add_resource([".well-known", "core"],
                               coap_resource.WKCResource(self.site.get_resources_as_linkheader))
        self.updates = add_registration_interface(self.site, self.registrations, self.events,
                                                  self.credentials, self.sessions)  # fmt: skip
        self.packages = PackageStore(config.packages_dir)
        self.firmware = FirmwareResource(self.packages)
        self.site.add_resource(["fw"], self.firmware)
        self.membership = Membership(store, interval=config.node_heartbeat,
                                     timeout=config.node_timeout)  # fmt: skip
        self.bootstrap = BootstrapService(store, self.credentials, model, self.server_uri,
                                          config.request_timeout, dm_uri=self.dm_uri,
                                          bs_uri=self.bs_uri,
                                          node_uris=self.membership.uris,
                                          handling=self.registrations.handling)  # fmt: skip
        self.site.add_resource(["bs"], BootstrapResource(self.bootstrap))
        self.sent = SentValues(store, model)
        """The last value of each path each device sent (/dp)."""
        send = SendResource(self.registrations, self.events, self.credentials, model, self.sent)
        self.site.add_resource(["dp"], send)
        self.coap = CoapSender(model, config.block_size, self.sessions)
        self.coap.pace = lambda: self.registrations.drained(self.pace)  # pushed blocks give way
        self.sender = QueueModeSender(self.coap, store, self.events, model,
                                      awake_time=config.queue_awake_time,
                                      timeout=config.request_timeout)  # fmt: skip
        self.observations = ObservationService(self.coap, store, self.events, model)
        self._unlisten = self.events.listening(self._on_event)

    # life cycle
    async def start(self) -> None:
        await self.store.start()
        await self.membership.join(self._node_id())
        await self.registrations.load(self.membership.node.id, self.membership.live_ids())
        await self.store.listen(MOVED, self._moved)
        await self.credentials.load(self.store)
        bind = (self.config.coap_host, self.config.coap_port)
        if self.config.coap_port < 0 and (self.config.coaps_port < 0 or not dtls_available()):
            await self._close_store()
            raise ValueError("with NoSec CoAP off (coap_port -1) the server needs CoAPs: "
                             "a coaps_port and DTLSSocket installed")  # fmt: skip
        try:
            if self.config.coap_port >= 0:
                self.context = await server_context(self.site, *bind, oscore=self.credentials)
                self._widen(message_interface(self.context).transport.get_extra_info("socket"))
                answer_updates_directly(self.context, self.updates, self.firmware.cached_block,
                                        self.registrations, self.pace)  # fmt: skip
            else:  # DTLS only
                self.context = ServerContext(serversite=self.site)
        except OSError:
            await self._close_store()
            raise
        if self.config.coaps_port >= 0:
            await self._serve_dtls()
        self.bootstrap.context = self.context
        self.coap.attach(self.context)
        await self.sender.load()
        await self._join()
        self._unlisten.__enter__()
        self._spawn(self.registrations.run_expiry(self.config.expiry_interval), "expiry")
        self._spawn(self._expire_orphans(), "orphan expiry")
        self._spawn(self._resume(), "resume")
        if self.config.coap_port >= 0:
            log.info("LwM2M server listening on coap://%s:%d", bind[0], self.port)

    def _node_id(self) -> str:
        """config.node_id, or <host>:<CoAP port> (a random suffix when the port is chosen
        at bind time: such a node is new on every start)."""
        port = self.config.coap_port if self.config.coap_port >= 0 else self.config.coaps_port
        suffix = str(port) if port > 0 else secrets.token_hex(4)
        return self.config.node_id or f"{socket.gethostname()}:{suffix}"

    async def _join(self) -> None:
        """Heart-beat as a node of the service, with the URIs devices reach it at."""
        coap_uri = "" if self.config.coap_port < 0 else self.server_uri(secure=False)
        coaps_uri = "" if self.dtls_port is None else self.server_uri(secure=True)
        await self.membership.start(coap_uri, coaps_uri)

    async def _expire_orphans(self) -> None:
        """The node holding the 'expiry' lease expires the registrations of dead nodes whose
        devices never registered again."""
        while True:
            await asyncio.sleep(max(self.config.node_heartbeat, self.config.node_timeout / 2))
            try:
                if not await self.membership.hold("expiry"):
                    continue
                async with self.store.transaction() as tx:
                    gone = await tx.registrations.expire_orphans(
                        self.membership.live_ids(), time.time() - self.config.lifetime_grace)
            except Exception:  # the database away for a moment: again next time
                log.exception("expiry of dead nodes' registrations failed")
                continue
            for registration in gone:
                log.info("registration of %s (on a dead node) expired", registration.endpoint)
                self.events.publish(Event(EventKind.EXPIRED, registration))

    async def _close_store(self) -> None:
        if self._owns_store:
            await self.store.close()

    async def _serve_dtls(self) -> None:
        assert self.context is not None
        if not dtls_available():
            log.warning("CoAPs is off: DTLSSocket is not installed (pip install "
                        "'lwm2m-mlaas[dtls]', which needs autoconf and automake)")  # fmt: skip
            return
        try:
            self._dtls = await add_dtls_transport(self.context, self.config.coaps_host,
                                                  self.config.coaps_port, self.credentials)
        except OSError:
            await self.context.shutdown()
            await self._close_store()
            raise
        self._widen(dtls_socket(self._dtls))
        log.info("CoAPs (DTLS-PSK) on coaps://%s:%d", self.config.coaps_host, self.dtls_port)

    def _widen(self, sock: socket.socket) -> None:
        granted = widen_receive_buffer(sock, self.config.receive_buffer)
        if granted < self.config.receive_buffer:  # (the kernel reports twice what it keeps)
            log.warning("UDP receive buffer of %s is %d KiB, not the %d KiB asked: raise "
                        "net.core.rmem_max for large fleets", sock.getsockname(),
                        granted // 2048, self.config.receive_buffer // 1024)  # fmt: skip

    @property
    def pace(self) -> float:
        """Longest a package block waits for a busy registration interface."""
        return min(PACE, self.config.yield_max)

    def server_uri(self, secure: bool = True) -> str:
        """This LwM2M server's CoAPs (or NoSec CoAP) URI for devices, at the advertised host;
        the bootstrap server writes it into accounts configured without one."""
        if secure and self.dtls_port is None:
            raise Lwm2mError("this server serves no CoAPs")
        if not secure and self.config.coap_port < 0:
            raise Lwm2mError("this server serves no NoSec CoAP")
        host = uri_host(self.config.advertised_host or (
            self.config.coaps_host if secure else self.config.package_host))
        return f"coaps://{host}:{self.dtls_port}" if secure else f"coap://{host}:{self.port}"

    def dm_uri(self, endpoint: str, secure: bool = True) -> str:
        """The URI of the node the endpoint belongs to (consistent hashing over the live nodes
        of the service), this server's when no other node serves that scheme."""
        try:
            owner = self.membership.owner(endpoint)
        except LookupError:
            return self.server_uri(secure)
        return (owner.coaps_uri if secure else owner.coap_uri) or self.server_uri(secure)

    def bs_uri(self, endpoint: str, secure: bool = True) -> str:
        """The bootstrap server URI written for the endpoint: the node it would move to if its
        own node died (its ring successor), this server's when alone. A device whose node dies
        bootstraps where it lands, so no one node's loss strands devices and the bootstraps of
        a dead node's devices spread over the live ones."""
        try:
            successor = self.membership.successor(endpoint)
        except LookupError:
            successor = None
        uri = None if successor is None else successor.coaps_uri if secure else successor.coap_uri
        return uri or self.server_uri(secure)

    @property
    def dtls_port(self) -> int | None:
        """The bound CoAPs port, or None when DTLS is off."""
        return None if self._dtls is None else dtls_port(self._dtls)

    async def stop(self) -> None:
        self._unlisten.__exit__(None, None, None)
        await self.membership.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.observations.close()
        await self.bootstrap.close()
        await self.registrations.close()
        await self.sent.close()
        if self.context is not None:
            await self.context.shutdown()
        await self._close_store()

    async def __aenter__(self) -> Lwm2mServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound NoSec CoAP port (useful with coap_port=0)."""
        assert self.context is not None
        if self.config.coap_port < 0:
            raise RuntimeError("NoSec CoAP is off (coap_port -1)")
        return bound_port(self.context)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # reactions to registration events
    def _on_event(self, event: Event) -> None:
        reg = event.registration
        if event.kind in (EventKind.DEREGISTRATION, EventKind.EXPIRED):
            self.sender.forget(reg)
            self._spawn(self.observations.drop(reg.id), f"drop observations {reg.endpoint}")
        elif event.kind in (EventKind.REGISTRATION, EventKind.UPDATED):
            moved = event.kind is EventKind.REGISTRATION and bool(event.data.get("moved"))
            if moved:  # from another node: its stored requests and observations follow it
                self.sender.arrived(reg.endpoint)
            if moved and not reg.queue_mode:  # (a queue-mode device's: once it is awake)
                self._spawn(self.observations.restore(reg, self.config.request_timeout),
                            f"restore {reg.endpoint}")  # fmt: skip
            if reg.queue_mode:
                self.sender.wake(reg, announce=event.kind is EventKind.UPDATED)
            if reg.queue_mode or self.sender.has_pending(reg):
                self._spawn(self._after_wake(reg), f"flush {reg.endpoint}")

    def _moved(self, payload: str) -> None:
        """An endpoint registered on another node: a registration of it here is stale."""
        node, _, endpoint = payload.partition(" ")
        if node != self.membership.node.id:
            registration = self.registrations.forget(endpoint)
            if registration is not None:  # (no DEREGISTRATION in the event stream: it moved)
                self.events.publish(Event(EventKind.DEREGISTRATION, registration,
                                          {"replaced": True, "moved": node}))  # fmt: skip

    async def _after_wake(self, registration: Registration) -> None:
        await self.sender.flush(registration)
        if registration.queue_mode:
            await self.observations.restore(registration, self.config.request_timeout)

    async def _resume(self) -> None:
        """After a restart: re-establish stored observations of devices that listen."""
        async with self.store.transaction() as tx:
            observed = {o.registration_id for o in await tx.observations.all()}
        for registration_id in sorted(observed):
            registration = self.registrations.get(registration_id)
            if registration is not None and not registration.queue_mode:
                self._spawn(
                    self.observations.restore(registration, self.config.request_timeout),
                    f"restore {registration.endpoint}",
                )

    # device management by endpoint name
    async def registration(self, endpoint: str) -> Registration:
        registration = self.registrations.by_endpoint(endpoint)
        if registration is None:
            raise UnknownRegistration(f"No registered client with id '{endpoint}'")
        return registration

    async def send(
        self, endpoint: str, request: DownlinkRequest, timeout: float | None = None
    ) -> Response | Queued:
        registration = await self.registration(endpoint)
        return await self.sender.send(registration, request, timeout or self.config.request_timeout)

    async def read(
        self,
        endpoint: str,
        path: str | Lwm2mPath,
        content_format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint, DownlinkRequest(Operation.READ, _path(path), content_format), timeout
        )

    async def discover(
        self, endpoint: str, path: str | Lwm2mPath, timeout: float | None = None
    ) -> Response | Queued:
        return await self.send(endpoint, DownlinkRequest(Operation.DISCOVER, _path(path)), timeout)

    async def write(
        self,
        endpoint: str,
        path: str | Lwm2mPath,
        node: Node,
        *,
        replace: bool = True,
        content_format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint,
            DownlinkRequest(
                Operation.WRITE, _path(path), content_format, node=node, replace=replace
            ),
            timeout,
        )

    async def execute(
        self,
        endpoint: str,
        path: str | Lwm2mPath,
        arguments: str = "",
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint, DownlinkRequest(Operation.EXECUTE, _path(path), arguments=arguments), timeout
        )

    async def create(
        self,
        endpoint: str,
        path: str | Lwm2mPath,
        node: Node,
        content_format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint,
            DownlinkRequest(Operation.CREATE, _path(path), content_format, node=node),
            timeout,
        )

    async def delete(
        self, endpoint: str, path: str | Lwm2mPath, timeout: float | None = None
    ) -> Response | Queued:
        return await self.send(endpoint, DownlinkRequest(Operation.DELETE, _path(path)), timeout)

    async def write_attributes(
        self,
        endpoint: str,
        path: str | Lwm2mPath,
        attributes: dict[str, str | None],
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint,
            DownlinkRequest(Operation.WRITE_ATTRIBUTES, _path(path), attributes=attributes),
            timeout,
        )

    async def read_composite(
        self,
        endpoint: str,
        paths: list[str | Lwm2mPath],
        content_format: ContentFormat = ContentFormat.SENML_CBOR,
        timeout: float | None = None,
    ) -> Response | Queued:
        return await self.send(
            endpoint,
            DownlinkRequest(
                Operation.READ_COMPOSITE,
                Lwm2mPath(()),
                content_format,
                paths=tuple(_path(p) for p in paths),
            ),
            timeout,
        )

    async def write_composite(
        self,
        endpoint: str,
        nodes: Mapping[Lwm2mPath, Node],
        content_format: ContentFormat = ContentFormat.SENML_CBOR,
        timeout: float | None = None,
    ) -> Response | Queued:
        """Write-Composite (iPATCH /): resources and resource instances of several objects
        in one SenML pack."""
        codec = senml_codec(content_format)
        return await self.send(
            endpoint,
            DownlinkRequest(
                Operation.WRITE_COMPOSITE,
                Lwm2mPath(()),
                codec.content_format,
                payload=codec.encode_nodes(nodes, self.model),
            ),
            timeout,
        )

    async def observe(
        self,
        endpoint: str,
        path: str | Lwm2mPath | Sequence[str | Lwm2mPath],
        content_format: ContentFormat | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Observe one path, or (a sequence of paths) Observe-Composite them, whose
        `content_format` is SenML CBOR (the default) or JSON."""
        registration = await self.registration(endpoint)
        return await self.observations.observe(
            registration, _target(path), content_format, timeout or self.config.request_timeout
        )

    async def cancel_observation(
        self,
        endpoint: str,
        path: str | Lwm2mPath | Sequence[str | Lwm2mPath],
        *,
        active: bool = False,
        timeout: float | None = None,
    ) -> Response:
        registration = await self.registration(endpoint)
        return await self.observations.cancel(
            registration, _target(path), active=active,
            timeout=timeout or self.config.request_timeout)  # fmt: skip


def _path(path: str | Lwm2mPath) -> Lwm2mPath:
    return path if isinstance(path, Lwm2mPath) else Lwm2mPath.parse(path)


def _target(path: str | Lwm2mPath | Sequence[str | Lwm2mPath]) -> Target:
    """One path, or the tuple of an Observe-Composite's paths."""
    if isinstance(path, str | Lwm2mPath):
        return _path(path)
    return tuple(_path(p) for p in path)


def build_server(
    config: ServerConfig, *, store: Store | None = None, model: ObjectRegistry | None = None
) -> Lwm2mServer:
    """The LwM2M server alone, with defaults: the object model shipped and a store at
    config.database_url; the server closes its store when it stops."""
    return Lwm2mServer(config, model or load_default(), store or Store.at(config.database_url),
                       owns_store=True)
