"""Registration handling: register, update, de-register and lifetime expiry, persisted first,
announced after the commit (and, for CoAP requests, after the reply is out)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from ..core.errors import UnknownRegistration
from ..core.registration import Registration, RegistrationParams
from ..store import Store
from .events import Event, EventBus, EventKind

log = logging.getLogger(__name__)


def new_registration_id() -> str:
    return secrets.token_hex(5)


class RegistrationService:
    def __init__(
        self,
        store: Store,
        events: EventBus,
        *,
        grace: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.grace = grace
        self.clock = clock

    async def register(
        self, params: RegistrationParams, host: str, port: int
    ) -> tuple[Registration, list[Event]]:
        """Store a new registration (replacing one of the same endpoint); returns it with the
        events to publish once the reply is sent."""
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
            additional_attributes=params.additional_attributes,
        )
        async with self.store.transaction() as repo:
            old = await repo.add_registration(registration)
        events = []
        if old is not None:
            events.append(Event(EventKind.DEREGISTRATION, old, {"replaced": True}))
        events.append(Event(EventKind.REGISTRATION, registration))
        log.info("registered %s as /rd/%s from %s", registration.endpoint, registration.id,
                 registration.address)
        return registration, events

    async def update(
        self, registration_id: str, params: RegistrationParams, host: str, port: int
    ) -> tuple[Registration, list[Event]]:
        async with self.store.transaction() as repo:
            current = await repo.registration(registration_id)
            if current is None:
                raise UnknownRegistration(f"no registration /rd/{registration_id}")
            updated = current.updated(params, host, port, self.clock())
            await repo.save_registration(updated)
        data = {"objectsChanged": params.object_links is not None,
                "previous": current}
        return updated, [Event(EventKind.UPDATED, updated, data)]

    async def deregister(self, registration_id: str) -> tuple[Registration, list[Event]]:
        async with self.store.transaction() as repo:
            removed = await repo.remove_registration(registration_id)
        if removed is None:
            raise UnknownRegistration(f"no registration /rd/{registration_id}")
        log.info("de-registered %s (/rd/%s)", removed.endpoint, removed.id)
        return removed, [Event(EventKind.DEREGISTRATION, removed)]

    async def get(self, registration_id: str) -> Registration | None:
        async with self.store.transaction() as repo:
            return await repo.registration(registration_id)

    async def by_endpoint(self, endpoint: str) -> Registration | None:
        async with self.store.transaction() as repo:
            return await repo.registration_by_endpoint(endpoint)

    async def all(self) -> list[Registration]:
        async with self.store.transaction() as repo:
            return await repo.registrations()

    async def expire(self) -> list[Registration]:
        """Drop every registration past its lifetime plus the grace period."""
        async with self.store.transaction() as repo:
            expired = await repo.expired_registrations(self.clock() - self.grace)
            for registration in expired:
                await repo.remove_registration(registration.id)
        for registration in expired:
            log.info("registration of %s expired", registration.endpoint)
            self.events.publish(Event(EventKind.EXPIRED, registration))
        return expired

    async def run_expiry(self, interval: float) -> None:
        while True:
            try:
                await self.expire()
            except Exception:
                log.exception("expiry sweep failed")
            await asyncio.sleep(interval)
