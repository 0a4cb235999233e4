"""Queue mode (LwM2M 1.1 6.5): a sender wrapper that stores requests for a sleeping device and
sends them when it next registers or updates."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

from ..core.errors import ResponseCode
from ..core.model import ObjectRegistry
from ..core.registration import Registration
from ..core.requests import DownlinkRequest, Response
from ..store import Store
from .downlink import Sender, payload_of
from .events import Event, EventBus, EventKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Queued:
    """The device sleeps: the request is stored as `request_id` and goes out when it wakes."""

    request_id: int


class QueueModeSender:
    def __init__(
        self,
        inner: Sender,
        store: Store,
        events: EventBus,
        model: ObjectRegistry,
        *,
        awake_time: float,
        timeout: float,
    ) -> None:
        self.inner = inner
        self.store = store
        self.events = events
        self.model = model
        self.awake_time = awake_time
        self.timeout = timeout
        self._awake_until: dict[str, float] = {}
        self._sleep_timers: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[int, asyncio.Future[Response]] = {}
        self._pending: set[str] = set()
        """Endpoints with stored requests, so that most updates cost no query."""

    async def load(self) -> None:
        async with self.store.transaction() as tx:
            self._pending = await tx.queue.endpoints_pending()

    def arrived(self, endpoint: str) -> None:
        """The endpoint came from another node, which may have stored requests for it."""
        self._pending.add(endpoint)

    def has_pending(self, registration: Registration) -> bool:
        return registration.endpoint in self._pending

    def is_awake(self, registration: Registration) -> bool:
        if not registration.queue_mode:
            return True
        return self._awake_until.get(registration.endpoint, 0.0) > time.monotonic()

    def wake(self, registration: Registration, *, announce: bool = True) -> None:
        """The device just talked to us: it listens for `awake_time` seconds. AWAKE is
        published when it was asleep and `announce` holds (a Register is announced on its own)."""
        endpoint = registration.endpoint
        was_awake = self.is_awake(registration)
        self._awake_until[endpoint] = time.monotonic() + self.awake_time
        timer = self._sleep_timers.pop(endpoint, None)
        if timer is not None:
            timer.cancel()
        self._sleep_timers[endpoint] = asyncio.get_running_loop().call_later(
            self.awake_time, self._fall_asleep, registration
        )
        if announce and not was_awake:
            self.events.publish(Event(EventKind.AWAKE, registration))

    def _fall_asleep(self, registration: Registration) -> None:
        self._sleep_timers.pop(registration.endpoint, None)
        self._awake_until.pop(registration.endpoint, None)
        self.events.publish(Event(EventKind.SLEEPING, registration))

    def forget(self, registration: Registration) -> None:
        timer = self._sleep_timers.pop(registration.endpoint, None)
        if timer is not None:
            timer.cancel()
        self._awake_until.pop(registration.endpoint, None)

    async def send(
        self, registration: Registration, request: DownlinkRequest, timeout: float
    ) -> Response | Queued:
        if self.is_awake(registration):
            response = await self.inner.send(registration, request, timeout)
            if response.timed_out and registration.queue_mode:
                self.forget(registration)
                self.events.publish(Event(EventKind.SLEEPING, registration))
            return response
        payload, fmt = payload_of(registration, request, self.model)
        stored = replace(
            request,
            node=None,
            payload=payload,
            content_format=fmt if fmt is not None else request.content_format,
        )
        async with self.store.transaction() as tx:
            request_id = await tx.queue.add(registration.endpoint, stored)
        self._pending.add(registration.endpoint)
        log.info(
            "%s sleeps: queued %s %s as #%d",
            registration.endpoint,
            request.operation.value,
            request.path,
            request_id,
        )
        return Queued(request_id)

    async def wait(self, request_id: int, timeout: float) -> Response | None:
        """The response to a queued request, once the device has woken and answered."""
        async with self.store.transaction() as tx:
            queued = await tx.queue.get(request_id)
        if queued is None or queued.status != "pending":
            return (
                None
                if queued is None
                else Response(_code(queued.response_code), error=queued.error)
            )
        future = self._waiters.setdefault(request_id, asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            return None

    async def flush(self, registration: Registration) -> int:
        """Send, in order, every request stored for this endpoint; returns how many went out."""
        if registration.endpoint not in self._pending:
            return 0
        lock = self._locks.setdefault(registration.endpoint, asyncio.Lock())
        sent = 0
        async with lock:
            async with self.store.transaction() as tx:
                pending = await tx.queue.pending(registration.endpoint)
            if len(pending) == 0:
                self._pending.discard(registration.endpoint)
            for queued in pending:
                response = await self.inner.send(registration, queued.request, self.timeout)
                if response.timed_out:
                    log.info(
                        "%s went back to sleep; %d request(s) stay queued",
                        registration.endpoint,
                        len(pending) - sent,
                    )
                    break
                async with self.store.transaction() as tx:
                    await tx.queue.complete(
                        queued.id,
                        ok=response.success,
                        code=int(response.code),
                        payload=response.payload,
                        content_format=(
                            None
                            if response.content_format is None
                            else int(response.content_format)
                        ),
                        error=response.error,
                    )
                sent += 1
                self.events.publish(Event(EventKind.REQUEST_RESPONSE, registration, {
                    "request_id": queued.id, "request": queued.request,
                    "response": response}))  # fmt: skip
                future = self._waiters.pop(queued.id, None)
                if future is not None and not future.done():
                    future.set_result(response)
            else:
                async with self.store.transaction() as tx:
                    if not await tx.queue.pending(registration.endpoint):
                        self._pending.discard(registration.endpoint)
        return sent


def _code(value: int | None) -> ResponseCode:
    return ResponseCode(value) if value is not None else ResponseCode.GATEWAY_TIMEOUT
