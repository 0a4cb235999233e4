"""DTLS-PSK and OSCORE (LwM2M 1.1 Transport 5.2.8, 5.2.9): the credentials the CoAPs transport
and the OSCORE site wrapper look up, the secure session of each registration (server requests
go back over it), and the binding rule: a device authenticated as A speaks only for A's
endpoint."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aiocoap
from aiocoap.oscore import (
    COSE_KID,
)

from ..core.errors import Lwm2mError, ResponseCode
from ..core.security import SEQUENCE_RESERVE, OscoreInfo, SecurityInfo
from ..oscore import OscoreContext
from ..store import Store

log = logging.getLogger(__name__)

CHANNEL = "mlaas_credentials"
"""PostgreSQL notifications naming an endpoint whose credentials changed."""


class Forbidden(Lwm2mError):
    code = ResponseCode.FORBIDDEN


@dataclass(frozen=True)
class BootstrapClaim:
    """A peer authenticated by an endpoint's factory bootstrap PSK: it may only bootstrap."""

    endpoint: str


class Credentials:
    """Every endpoint's PSK, kept in memory for the DTLS handshake (which asks synchronously);
    the database holds the truth and the REST API updates both. Bootstrap credentials (from
    bootstrap configurations) are kept apart: they authenticate for /bs only."""

    def __init__(self) -> None:
        self._by_identity: dict[str, SecurityInfo] = {}
        self._by_endpoint: dict[str, SecurityInfo] = {}
        self._bootstrap: dict[str, SecurityInfo] = {}
        """Bootstrap PSKs by identity."""
        self._oscore: dict[bytes, OscoreContext] = {}
        """OSCORE contexts by recipient id (the kid of the device's requests)."""
        self._oscore_by_endpoint: dict[str, OscoreContext] = {}
        self._store: Store | None = None
        self._writes: set[asyncio.Task[None]] = set()

    async def load(self, store: Store) -> None:
        """Read every credential, and follow the changes other nodes make (`changed`)."""
        self._store = store
        await store.listen(CHANNEL, self._notified)
        async with store.transaction() as tx:
            for info in await tx.security.all():
                self.put(info)
            for record in await tx.bootstrap.all():
                self.put_bootstrap(record.endpoint, record.config.bootstrap_psk())
            for oscore, reserved in await tx.oscore.all():
                context = self.put_oscore(oscore, reserved)
                await tx.oscore.reserve_sequence(oscore.endpoint, context.reserved)

    # several nodes
    def changed(self, endpoint: str) -> None:
        """The endpoint's credentials changed in the database: other nodes read them again."""
        self._spawn(self.announce(endpoint), "announce credentials")

    async def announce(self, endpoint: str) -> None:
        """`changed`, returning once the other nodes are told."""
        if self._store is not None:
            await self._store.notify(CHANNEL, endpoint)

    def _notified(self, endpoint: str) -> None:
        self._spawn(self.refresh(endpoint), f"refresh credentials of {endpoint}")

    async def refresh(self, endpoint: str) -> None:
        """Take the endpoint's credentials as stored now."""
        assert self._store is not None
        async with self._store.transaction() as tx:
            psk = await tx.security.get(endpoint)
            oscore = await tx.oscore.get(endpoint)
            reserved = await tx.oscore.reserved(endpoint)
            bootstrap = await tx.bootstrap.get(endpoint)
            current = self._oscore_by_endpoint.get(endpoint)
            new = current is None or OscoreInfo(endpoint, current.setting) != oscore
            if oscore is not None and reserved is not None and new:
                context = self.put_oscore(oscore, reserved)  # (numbers past another node's)
                await tx.oscore.reserve_sequence(endpoint, context.reserved)
            elif psk is not None:
                self.put(psk)
            elif oscore is None:
                self.remove(endpoint)
        self.put_bootstrap(endpoint, bootstrap.config.bootstrap_psk() if bootstrap else None)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # OSCORE
    def put_oscore(self, info: OscoreInfo, sequence: int = 0) -> OscoreContext:
        """Use `info` for its endpoint (replacing its PSK), sending from sequence number
        `sequence`: numbers up to SEQUENCE_RESERVE past it must already be reserved."""
        self.remove(info.endpoint)
        context = OscoreContext(info.setting, info.endpoint, sequence, self.reserve)
        self._oscore[context.recipient_id] = context
        self._oscore_by_endpoint[info.endpoint] = context
        return context

    def oscore_context(self, endpoint: str) -> OscoreContext | None:
        return self._oscore_by_endpoint.get(endpoint)

    def find_oscore(self, unprotected: Mapping[Any, Any]) -> OscoreContext:
        """aiocoap's OSCORE lookup: the context for a request's kid; KeyError for none."""
        context = self._oscore.get(unprotected.get(COSE_KID, b""))
        if context is None or context.get_oscore_context_for(unprotected) is None:
            raise KeyError("no OSCORE context for this kid")
        return context

    def reserve(self, context: OscoreContext) -> None:
        """Persist a context's next block of sender sequence numbers, in the background."""
        if self._store is None:
            context.reserved_up_to(context.reserved + SEQUENCE_RESERVE)
            return
        endpoint, store = str(context.endpoint), self._store
        upto = context.reserved + SEQUENCE_RESERVE

        async def write() -> None:
            async with store.transaction() as tx:
                await tx.oscore.reserve_sequence(endpoint, upto)
            context.reserved_up_to(upto)

        self._spawn(write(), "reserve OSCORE sequence")

    def has(self, endpoint: str) -> bool:
        """The endpoint has credentials (PSK or OSCORE): it may not use NoSec."""
        return endpoint in self._by_endpoint or endpoint in self._oscore_by_endpoint

    def put_bootstrap(self, endpoint: str, psk: tuple[str, bytes] | None) -> None:
        """Set (or with None, remove) an endpoint's bootstrap PSK."""
        for identity, info in list(self._bootstrap.items()):
            if info.endpoint == endpoint:
                del self._bootstrap[identity]
        if psk is not None:
            self._bootstrap[psk[0]] = SecurityInfo(endpoint, *psk)

    def put(self, info: SecurityInfo) -> None:
        """Use a PSK for its endpoint (replacing its OSCORE context)."""
        self.remove(info.endpoint)
        self._by_identity[info.identity] = info
        self._by_endpoint[info.endpoint] = info

    def remove(self, endpoint: str) -> None:
        """Forget the endpoint's PSK and OSCORE credentials."""
        old = self._by_endpoint.pop(endpoint, None)
        if old is not None:
            self._by_identity.pop(old.identity, None)
        context = self._oscore_by_endpoint.pop(endpoint, None)
        if context is not None:
            self._oscore.pop(context.recipient_id, None)

    def of(self, endpoint: str) -> SecurityInfo | None:
        return self._by_endpoint.get(endpoint)

    def find_dtls_psk(self, identity: bytes) -> tuple[bytes, str | BootstrapClaim]:
        """aiocoap's server credentials interface: the key and the claim (the endpoint name)
        for a PSK identity; KeyError for an unknown one."""
        text = identity.decode("utf-8", "replace")
        info = self._by_identity.get(text)
        if info is not None:
            return info.key, info.endpoint
        bootstrap = self._bootstrap.get(text)
        if bootstrap is not None:
            return bootstrap.key, BootstrapClaim(bootstrap.endpoint)
        log.info("DTLS handshake with unknown PSK identity %r", identity[:64])
        raise KeyError(identity)


def claimed_endpoint(remote: Any) -> str | None:
    """The endpoint whose PSK authenticated this peer, or None over NoSec."""
    for claim in getattr(remote, "authenticated_claims", None) or ():
        if isinstance(claim, str):
            return claim
    return None


def bootstrap_claim(remote: Any) -> BootstrapClaim | None:
    for claim in getattr(remote, "authenticated_claims", None) or ():
        if isinstance(claim, BootstrapClaim):
            return claim
    return None


def check_binding(endpoint: str, remote: Any, credentials: Credentials) -> None:
    """4.03 unless the peer may speak for `endpoint`: over DTLS only as its own identity's
    endpoint, over NoSec only for endpoints without credentials; never with a bootstrap
    credential."""
    if bootstrap_claim(remote) is not None:
        raise Forbidden("a bootstrap credential serves the bootstrap interface (/bs) only")
    claimed = claimed_endpoint(remote)
    if claimed is not None and not credentials.has(claimed):
        raise Forbidden(f"the credentials of endpoint {claimed!r} were revoked")
    if claimed is not None and claimed != endpoint:
        raise Forbidden(f"the credentials used belong to endpoint {claimed!r}, not {endpoint!r}")
    if claimed is None and credentials.has(endpoint):
        raise Forbidden(f"endpoint {endpoint!r} has credentials: it must use DTLS or OSCORE")


class Sessions:
    """The secure session (aiocoap remote: DTLS, or OSCORE over UDP) each secure endpoint last
    spoke from."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._remotes: dict[str, Any] = {}
        self.credentials = credentials or Credentials()

    def remember(self, endpoint: str, remote: Any) -> None:
        if claimed_endpoint(remote) is not None:
            self._remotes[endpoint] = remote

    def forget(self, endpoint: str) -> None:
        self._remotes.pop(endpoint, None)

    async def route(self, message: aiocoap.Message, endpoint: str,
                    context: aiocoap.Context) -> None:  # fmt: skip
        """Send `message` over the endpoint's session: its DTLS session or OSCORE context (an
        OSCORE context needs no session, so this works after a restart too)."""
        from aiocoap.transports.oscore import OSCOREAddress

        remote = self._remotes.get(endpoint)
        oscore = self.credentials.oscore_context(endpoint)
        if remote is None and oscore is not None:
            await context.find_remote_and_interface(message)  # the device's UDP address
            remote = OSCOREAddress(oscore, message.remote)
        if remote is None:
            raise Lwm2mError(f"no DTLS session with {endpoint!r}: it must contact us first",
                             code=ResponseCode.SERVICE_UNAVAILABLE)  # fmt: skip
        message.remote = remote


def dtls_available() -> bool:
    try:
        import DTLSSocket.dtls  # noqa: F401
    except ImportError:
        return False
    return True


async def add_dtls_transport(context: aiocoap.Context, host: str, port: int,
                             credentials: Credentials) -> Any:  # fmt: skip
    """Serve CoAPs on host:port in `context`, and let requests the server originates go back
    over a device's DTLS session (aiocoap's DTLS server transport does not recognize its own
    remotes; the subclass here does)."""
    from aiocoap.transports.tinydtls_server import MessageInterfaceTinyDTLSServer, _AddressDTLS

    class Lwm2mDtlsServer(MessageInterfaceTinyDTLSServer):
        async def recognize_remote(self, remote: Any) -> bool:
            return isinstance(remote, _AddressDTLS) and remote._protocol is self._pool

    created: list[Any] = []

    async def create(manager: Any) -> Any:
        # the transport adds 5684 - 5683 to the port it is given
        transport = await Lwm2mDtlsServer.create_server(
            (host, port - 1), manager, log=context.log, loop=context.loop,
            server_credentials=credentials)  # fmt: skip
        created.append(transport)
        return transport

    await context._append_tokenmanaged_messagemanaged_transport(create)
    return created[0]


def dtls_socket(transport: Any) -> socket.socket:
    return transport._pool._transport.get_extra_info("socket")  # type: ignore[no-any-return]


def dtls_port(transport: Any) -> int:
    return int(dtls_socket(transport).getsockname()[1])
