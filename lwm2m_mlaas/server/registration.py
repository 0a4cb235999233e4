"""Registration handling: register, update, de-register and lifetime expiry. The registrations
live in memory for reads and are written through to the database before any answer or event goes
out. Changes made while a write is in flight are coalesced into the next one (three statements
for however many registrations), so a busy fleet costs a commit per batch, not per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from ..core.errors import UnknownRegistration
from ..core.registration import Registration, RegistrationParams
from ..store import Store, Transaction, WriteBatcher
from .events import Event, EventBus, EventKind

log = logging.getLogger(__name__)


MOVED = "mlaas_moved"
"""PostgreSQL notifications '<node> <endpoint>': the endpoint registered on that node."""


def new_registration_id() -> str:
    return secrets.token_hex(5)


@dataclass
class _Changes:
    """Registration changes not yet written, by registration id."""

    deletes: set[str] = field(default_factory=set)
    inserts: dict[str, Registration] = field(default_factory=dict)
    updates: dict[str, Registration] = field(default_factory=dict)
    displaced: set[str] = field(default_factory=set)
    """Endpoints new to this node: a stored registration made on another node is replaced."""
    moved: set[str] = field(default_factory=set)
    """Those of `displaced` that had one (known once written)."""

    def insert(self, registration: Registration, replacing: Registration | None) -> None:
        if replacing is not None:
            self.delete(replacing.id)
        self.inserts[registration.id] = registration

    def update(self, registration: Registration) -> None:
        if registration.id in self.inserts:
            self.inserts[registration.id] = registration
        else:
            self.updates[registration.id] = registration

    def delete(self, registration_id: str) -> None:
        self.updates.pop(registration_id, None)
        if self.inserts.pop(registration_id, None) is None:
            self.deletes.add(registration_id)


class RegistrationService:
    def __init__(
        self,
        store: Store,
        events: EventBus,
        *,
        grace: float = 15.0,
        clock: Callable[[], float] = time.time,
        busy_at: int = 8,
        shared: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.shared = shared
        """Other live nodes share the database: an endpoint new to this node may have a stored
        registration made on another one, which its Register replaces."""
        self.events = events
        self.grace = grace
        self.clock = clock
        self.busy_at = busy_at
        """Requests in flight from which the interface counts as busy (see `drained`)."""
        self.in_flight = 0
        """Register, Update and De-register requests being handled (their commit included)."""
        self._drained = asyncio.Event()
        self._drained.set()
        self.writes = WriteBatcher(store, urgent=True)
        self._by_id: dict[str, Registration] = {}
        self._by_endpoint: dict[str, str] = {}
        self._changes = _Changes()
        self._written: asyncio.Future[None] | None = None
        self.node = ""
        """The node whose registrations these are (set by `load`)."""
        self._telling: set[asyncio.Future[None]] = set()

    def _commit(self) -> asyncio.Future[None]:
        """The future of the write that will carry the changes made so far."""
        if self._written is None:
            taken: list[_Changes] = []

            async def write(tx: Transaction) -> None:
                if not taken:  # the first attempt takes the changes; a retry writes them again
                    taken.append(self._changes)
                    self._changes, self._written = _Changes(), None
                changes = taken[0]
                changes.moved = await tx.registrations.apply(
                    deletes=changes.deletes,
                    inserts=changes.inserts.values(),
                    updates=changes.updates.values(),
                    displaced=changes.displaced,
                    node=self.node,
                )

            self._written = asyncio.ensure_future(self.writes.submit(write))
            self._written.add_done_callback(self._after_write)
        return self._written

    def _after_write(self, written: asyncio.Future[None]) -> None:
        if not written.cancelled() and written.exception() is not None:
            log.error(
                "registration write failed (%s); reloading from the database", written.exception()
            )
            self._reload = asyncio.ensure_future(self._load_again())

    async def load(self, node: str = "", live: Collection[str] = ()) -> None:
        """Read the registrations of `node`, adopting those of nodes not in `live` (after a
        restart their lifetimes keep running)."""
        self.node = node
        async with self.store.transaction() as tx:
            await tx.registrations.adopt(node, live)
            self._keep(await tx.registrations.all([node]))

    async def _load_again(self) -> None:
        async with self.store.transaction() as tx:
            self._keep(await tx.registrations.all([self.node]))

    def _keep(self, stored: list[Registration]) -> None:
        """Hold `stored` (this node's registrations as read) in memory, and nothing else."""
        self._by_id = {r.id: r for r in stored}
        self._by_endpoint = {r.endpoint: r.id for r in stored}

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """A request of the registration interface (or a bootstrap session, which ends in one)
        in flight: background steps yield while `busy_at` are."""
        self.in_flight += 1
        if self.in_flight >= self.busy_at:
            self._drained.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if self.in_flight < self.busy_at:
                self._drained.set()

    @property
    def busy(self) -> bool:
        """At least `busy_at` requests are in flight."""
        return not self._drained.is_set()

    async def drained(self, max_wait: float) -> None:
        """Return once fewer than `busy_at` requests are in flight, or after `max_wait` s:
        background work (provisioning, deliveries) waits here before each step, so that it
        yields to the registration interface without stopping under a sustained load."""
        if not self._drained.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), max_wait)

    def _put(self, registration: Registration) -> None:
        self._by_id[registration.id] = registration
        self._by_endpoint[registration.endpoint] = registration.id

    def _drop(self, registration: Registration) -> None:
        self._by_id.pop(registration.id, None)
        if self._by_endpoint.get(registration.endpoint) == registration.id:
            del self._by_endpoint[registration.endpoint]

    async def register(
        self, params: RegistrationParams, host: str, port: int, *, secure: bool = False
    ) -> tuple[Registration, list[Event]]:
        """Store a new registration (replacing one of the same endpoint); returns it with the
        events to publish once the reply is sent."""
        with self.handling():
            return await self._register(params, host, port, secure)

    async def _register(
        self, params: RegistrationParams, host: str, port: int, secure: bool
    ) -> tuple[Registration, list[Event]]:
        assert params.endpoint and params.lifetime and params.object_links is not None
        now = self.clock()
        registration = Registration(
            id=new_registration_id(),
            endpoint=params.endpoint,
            host=host,
            port=port,
            lifetime=params.lifetime,
            lwm2m_version=params.lwm2m_version or "1.0",
            binding=params.binding or "U",
            queue_mode=bool(params.queue_mode),
            sms=params.sms,
            object_links=params.object_links,
            registration_date=now,
            last_update=now,
            secure=secure,
            additional_attributes=params.additional_attributes,
        )
        old = self.by_endpoint(registration.endpoint)
        batch = self._changes
        if old is not None:
            self._drop(old)
        elif self.shared():
            batch.displaced.add(registration.endpoint)
        self._put(registration)
        batch.insert(registration, replacing=old)
        await asyncio.shield(self._commit())
        moved = registration.endpoint in batch.moved
        if moved:  # the node it left forgets it
            told = asyncio.ensure_future(
                self.store.notify(MOVED, f"{self.node} {registration.endpoint}"))
            self._telling.add(told)
            told.add_done_callback(self._telling.discard)
        events = []
        if old is not None:
            events.append(Event(EventKind.DEREGISTRATION, old, {"replaced": True}))
        events.append(Event(EventKind.REGISTRATION, registration, {"moved": moved}))
        log.info(
            "registered %s as /rd/%s from %s",
            registration.endpoint,
            registration.id,
            registration.address,
        )
        return registration, events

    async def update(
        self, registration_id: str, params: RegistrationParams, host: str, port: int
    ) -> tuple[Registration, list[Event]]:
        with self.handling():
            return await self._update(registration_id, params, host, port)

    async def _update(
        self, registration_id: str, params: RegistrationParams, host: str, port: int
    ) -> tuple[Registration, list[Event]]:
        current = self._by_id.get(registration_id)
        if current is None:
            raise UnknownRegistration(f"no registration /rd/{registration_id}")
        updated = current.updated(params, host, port, self.clock())
        self._put(updated)
        self._changes.update(updated)
        await asyncio.shield(self._commit())
        data = {"objectsChanged": params.object_links is not None, "previous": current}
        return updated, [Event(EventKind.UPDATED, updated, data)]

    async def deregister(self, registration_id: str) -> tuple[Registration, list[Event]]:
        with self.handling():
            return await self._deregister(registration_id)

    async def _deregister(self, registration_id: str) -> tuple[Registration, list[Event]]:
        removed = self._by_id.get(registration_id)
        if removed is None:
            raise UnknownRegistration(f"no registration /rd/{registration_id}")
        self._drop(removed)
        self._changes.delete(registration_id)
        await asyncio.shield(self._commit())
        log.info("de-registered %s (/rd/%s)", removed.endpoint, removed.id)
        return removed, [Event(EventKind.DEREGISTRATION, removed)]

    def forget(self, endpoint: str) -> Registration | None:
        """Drop the endpoint's registration from memory (it registered on another node, which
        replaced the stored one); returns it."""
        registration = self.by_endpoint(endpoint)
        if registration is not None:
            self._drop(registration)
            self._changes.updates.pop(registration.id, None)
            log.info("%s registered on another node", endpoint)
        return registration

    def get(self, registration_id: str) -> Registration | None:
        return self._by_id.get(registration_id)

    def by_endpoint(self, endpoint: str) -> Registration | None:
        registration_id = self._by_endpoint.get(endpoint)
        return None if registration_id is None else self._by_id.get(registration_id)

    def all(self) -> list[Registration]:
        return sorted(self._by_id.values(), key=lambda r: r.endpoint)

    def by_address(self, address: str) -> Registration | None:
        """The registration made from 'ip:port' (a scan: for rare callers, e.g. Send)."""
        return next((r for r in self._by_id.values() if r.address == address), None)

    def __len__(self) -> int:
        return len(self._by_id)

    async def expire(self) -> list[Registration]:
        """Drop every registration past its lifetime plus the grace period. One whose row is
        gone already was replaced by a Register on another node: it goes without an event."""
        deadline = self.clock() - self.grace
        expired = [r for r in self._by_id.values() if r.expires_at < deadline]
        for registration in expired:
            self._drop(registration)
            self._changes.updates.pop(registration.id, None)
        if not expired:
            return []
        gone = await asyncio.shield(self._remove([r.id for r in expired]))
        expired = [r for r in expired if r.id in gone]
        for registration in expired:
            log.info("registration of %s expired", registration.endpoint)
            self.events.publish(Event(EventKind.EXPIRED, registration))
        return expired

    async def _remove(self, ids: list[str]) -> set[str]:
        async with self.store.transaction() as tx:
            return await tx.registrations.remove_many(ids)

    async def run_expiry(self, interval: float) -> None:
        while True:
            try:
                await self.expire()
            except Exception:
                log.exception("expiry sweep failed")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.writes.close()
