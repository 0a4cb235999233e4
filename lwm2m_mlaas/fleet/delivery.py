"""Package delivery over the Firmware Update object (5), as a persisted state machine.

    pending -> transferring -> downloaded -> updating -> succeeded
        ^            |              |            |
        +------------+--------------+------------+  (retry after backoff)    -> failed, cancelled

The package is the artifact signed with the newest key the device trusts (trust.py), chosen
when the transfer starts. Push writes /5/0/0 (Block1, at the size the device accepts); pull
writes /5/0/1 with the coap:// URI of /fw/<package>.pkg (the device fetches it with Block2).
/5/0/3 (state) and /5/0/5 (result) are observed; /5/0/2 is executed once the state is
DOWNLOADED; success is result 1 with /5/0/7 naming a package of the artifact. Every step is
written to the database first, so a restarted server resumes each active delivery, and a device
that vanished is retried when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..config import MAX_PACKAGE_URI
from ..core.artifact import StoredArtifact
from ..core.content_format import ContentFormat
from ..core.delivery import Delivery, DeliveryChange, DeliveryMode, DeliveryState
from ..core.firmware_update import (
    PACKAGE,
    PACKAGE_URI,
    PKG_VERSION,
    REASONS,
    STATE,
    UPDATE,
    UPDATE_RESULT,
    FirmwareResult,
    FirmwareState,
)
from ..core.nodes import ResourceType, SingleResource
from ..core.registration import uri_host
from ..core.requests import Response
from ..core.signing import SignedPackage
from ..server import Event, EventKind, Lwm2mServer, Queued
from ..store import Transaction, WriteBatcher
from .trust import NoTrustedKey, TrustService

log = logging.getLogger(__name__)

BUSY_SHARE = 8
"""While the registration interface is busy, new transfers start only up to this share
(1/8) of max_transfers; those in flight go on."""
FOLLOW = 1.0
"""How often (s) a node of several reads the deliveries other nodes wrote."""
HELD_ELSEWHERE = 2.0
"""How long (s) a delivery another node runs waits before this node asks again."""
RETRYABLE = frozenset({FirmwareResult.CONNECTION_LOST, FirmwareResult.INTEGRITY_FAILURE,
                       FirmwareResult.UPDATE_FAILED})  # fmt: skip
"""Results worth another attempt; 2, 3, 6, 7 and 9 will not change by trying again."""


class _HeldElsewhere(Exception):
    """Another live node runs this delivery now, or its device is registered there."""


class _Superseded(Exception):
    """The delivery was cancelled or replaced while an attempt ran: the attempt writes nothing."""


class AttemptFailed(Exception):
    def __init__(self, reason: str, *, result: int | None = None, retry: bool = True) -> None:
        super().__init__(reason)
        self.result = result
        self.retry = retry


@dataclass
class _Watch:
    """The device's /5/0/3 and /5/0/5 as its notifications (or reads) report them."""

    state: int | None = None
    result: int | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def _value(response: Response | Queued) -> object:
    if isinstance(response, Queued):
        raise AttemptFailed("the device sleeps (queue mode); retried when it wakes")
    if not response.success:
        raise AttemptFailed(f"{response.code.dotted} {response.error or response.code.name}",
                            retry=response.timed_out or response.code.value >= 160)  # fmt: skip
    return getattr(response.node, "value", None)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


class DeliveryService:
    """Runs deliveries, at most `max_transfers` at once and one per device. It is the only
    writer of deliveries, so the active ones are also kept in memory: scheduling, and a device
    that registers or updates, cost no query."""

    def __init__(self, server: Lwm2mServer, trust: TrustService | None = None) -> None:
        self.server = server
        self.store = server.store
        self.config = server.config
        self.trust = trust or TrustService(server)
        """Which signing key each device's package is signed with."""
        self._active: dict[int, Delivery] = {}
        """Every active delivery as last written."""
        self._of: dict[str, set[int]] = {}
        """Active delivery ids by endpoint."""
        self._due: list[tuple[float, int]] = []
        """(next attempt, delivery id) of pending deliveries, a heap; stale entries are
        skipped when popped."""
        self._resuming: list[tuple[float, int]] = []
        """The same for deliveries past pending that no attempt here runs (after a restart, or
        taken over from a dead node). Work the service had admitted: they start first, up to
        max_transfers of them besides the others, busy or not."""
        self._resumed: set[int] = set()
        """Running deliveries started from `_resuming`."""
        self._parked: dict[str, set[int]] = {}
        """Due deliveries whose device is away or busy with another delivery, by endpoint."""
        self._running: dict[int, asyncio.Task[None]] = {}
        self._busy: dict[str, int] = {}
        """The running delivery of each device: one at a time per device."""
        self._watches: dict[str, _Watch] = {}
        self._artifacts: dict[str, StoredArtifact] = {}
        """Artifacts delivered so far (rows that never change), by id."""
        self.writes = WriteBatcher(server.store)
        """Delivery steps, and provisioning's records, share commits."""
        self._later: dict[int, float] = {}
        """Deliveries held elsewhere: when to ask again."""
        self._claimed: set[int] = set()
        """Deliveries this node marked as its own in the database (when nodes share it)."""
        self._arrived: set[str] = set()
        """Devices registered here whose deliveries are to be read (with other nodes live)."""
        self._arrivals: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._listening = server.events.listening(self._on_event)

    # life cycle
    def start(self) -> None:
        self._listening.__enter__()
        self.trust.start()
        self._loop = asyncio.create_task(self._schedule(), name="deliveries")
        self._follower = asyncio.create_task(self._follow(), name="follow deliveries")

    async def stop(self) -> None:
        self._listening.__exit__(None, None, None)
        await self.trust.stop()
        tasks = [t for t in (self._loop, self._follower, self._arrivals,
                             *self._running.values())
                 if t is not None]  # fmt: skip
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writes.close()

    @property
    def in_flight(self) -> int:
        """Deliveries running now (at most max_transfers)."""
        return len(self._running)

    # API
    async def deliver(
        self, endpoint: str, artifact_id: str, model: str, device_class: str, mode: DeliveryMode
    ) -> Delivery:
        """Start delivering a package, replacing any other active delivery to the device."""
        replaced: list[Delivery] = []
        running: list[Delivery] = []

        async def add(tx: Transaction) -> Delivery:
            replaced.clear()  # (a batch that failed is written again, alone)
            running.clear()
            for active in await tx.deliveries.all(endpoint, active=True):
                if active.artifact_id == artifact_id:
                    running.append(active)
                    return active
                replaced.append(await tx.deliveries.update(active.id, DeliveryChange(
                    state=DeliveryState.CANCELLED, reason="replaced by a newer package")))
            return await tx.deliveries.add(endpoint, artifact_id, model, device_class, mode)

        delivery = await self.writes.submit(add)
        if running:
            return delivery
        for old in replaced:
            self._track(old)
            if old.id in self._running:
                self._running[old.id].cancel()
        self._track(delivery)
        return delivery

    async def cancel(self, delivery_id: int) -> Delivery:
        """Stop a delivery; the device's download is cancelled by an empty write."""
        self._active.pop(delivery_id, None)  # scheduled no more, from now on
        task = self._running.get(delivery_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self.store.transaction() as tx:
            delivery = await tx.deliveries.update(delivery_id, DeliveryChange(
                state=DeliveryState.CANCELLED, reason="cancelled by the operator"))
        self._track(delivery)
        with contextlib.suppress(Exception):
            await self.server.write(delivery.endpoint, PACKAGE,
                                    SingleResource(0, ResourceType.OPAQUE, b""))  # fmt: skip
        return delivery

    # scheduling
    def _track(self, delivery: Delivery) -> None:
        """Keep the in-memory view in step with what was just written; queue it when due."""
        ids = self._of.setdefault(delivery.endpoint, set())
        if delivery.active:
            self._active[delivery.id] = delivery
            ids.add(delivery.id)
            if delivery.id not in self._running:
                self._queue(delivery, delivery.next_attempt)
                self._wake.set()
        else:
            self._active.pop(delivery.id, None)
            ids.discard(delivery.id)
        if not ids:
            del self._of[delivery.endpoint]

    def _on_event(self, event: Event) -> None:
        if event.kind is EventKind.NOTIFICATION:
            self._notified(event)
        elif event.kind in (EventKind.REGISTRATION, EventKind.UPDATED, EventKind.AWAKE):
            endpoint = event.registration.endpoint
            if event.kind is EventKind.REGISTRATION and self.server.membership.shared:
                self._registered(endpoint)  # (what another node left is in the database)
            elif endpoint in self._of:
                asyncio.get_running_loop().create_task(self._returned(endpoint))

    def _registered(self, endpoint: str) -> None:
        """With other nodes live, a device registered here: its active deliveries are taken
        in as the database has them (another node may have run them until it died), then
        served as for any returning device. Devices arriving together share one read."""
        self._arrived.add(endpoint)
        if self._arrivals is None or self._arrivals.done():
            self._arrivals = asyncio.get_running_loop().create_task(self._take_in())

    async def _take_in(self) -> None:
        while self._arrived:
            endpoints, self._arrived = self._arrived, set()
            try:
                async with self.store.transaction() as tx:
                    found = await tx.deliveries.active_of(endpoints)
            except Exception:  # (the follower brings them in a moment later)
                log.exception("reading the deliveries of %d devices failed", len(endpoints))
                found = []
            for delivery in found:
                self._take(delivery)
            for endpoint in endpoints & self._of.keys():
                await self._returned(endpoint)

    async def _returned(self, endpoint: str) -> None:
        """A device (re)appeared: its waiting deliveries need not wait out their backoff."""
        now = time.time()
        self._unpark(endpoint)
        waiting = [d for i in self._of.get(endpoint, ()) if (d := self._active.get(i))
                   and i not in self._running and d.next_attempt > now]  # fmt: skip
        if waiting:
            async with self.store.transaction() as tx:
                for delivery in waiting:
                    self._track(await tx.deliveries.update(delivery.id,
                                                           DeliveryChange(next_attempt=now)))
        self._wake.set()

    async def _schedule(self) -> None:
        async with self.store.transaction() as tx:
            for delivery in await tx.deliveries.all(active=True):  # resumed after a restart
                self._track(delivery)
        while True:
            self._wake.clear()
            now = time.time()
            limit = self.config.max_transfers
            if self.server.registrations.busy:  # a burst at /rd: start few new transfers
                limit = max(1, limit // BUSY_SHARE)
            wait = 1.0  # (or until a delivery is added or one finishes)
            for queue, counted, cap in ((self._resuming, self._resumed, self.config.max_transfers),
                                        (self._due, self._running, limit)):
                self._start_due(queue, counted, cap, now)
                if queue and len(counted) < cap:
                    wait = min(wait, max(0.01, queue[0][0] - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _queue(self, delivery: Delivery, when: float) -> None:
        resuming = delivery.state is not DeliveryState.PENDING
        heapq.heappush(self._resuming if resuming else self._due, (when, delivery.id))

    def _start_due(self, queue: list[tuple[float, int]], counted: Collection[int], cap: int,
                   now: float) -> None:  # fmt: skip
        """Start the queue's due deliveries while fewer than `cap` are `counted`."""
        while queue and queue[0][0] <= now and len(counted) < cap:
            _, delivery_id = heapq.heappop(queue)
            due = self._active.get(delivery_id)
            if due is None or delivery_id in self._running or due.next_attempt > now:
                continue  # finished, running, or queued again for later
            endpoint = due.endpoint
            away = self.server.registrations.by_endpoint(endpoint) is None
            if endpoint in self._busy or away:
                self._parked.setdefault(endpoint, set()).add(delivery_id)
                continue  # after the device's running delivery, or when it returns
            task = asyncio.create_task(self._attempt(due), name=f"deliver {endpoint}")
            self._running[delivery_id] = task
            self._busy[endpoint] = delivery_id
            task.add_done_callback(functools.partial(self._done, due))
            if queue is self._resuming:
                self._resumed.add(delivery_id)

    async def _follow(self) -> None:
        """With other nodes live: take in the deliveries they wrote (added for a device that
        may be registered here, cancelled, replaced or finished there)."""
        since = time.time()
        while True:
            await asyncio.sleep(FOLLOW)
            if not self.server.membership.shared:
                since = time.time()
                continue
            try:
                async with self.store.transaction() as tx:
                    changed = await tx.deliveries.changed_since(since - 2 * FOLLOW)
            except Exception:  # the database away for a moment: again next time
                log.exception("reading other nodes' deliveries failed")
                continue
            for delivery in changed:
                since = max(since, delivery.updated)
                self._take(delivery)

    def _take(self, delivery: Delivery) -> None:
        """Take in a delivery as the database has it (another node may have written it),
        unless what this node holds is as new."""
        mine = self._active.get(delivery.id)
        if delivery.id in self._running and delivery.active:
            return  # this node runs it: its own writes are the newest
        if mine is None and not delivery.active:
            return
        if mine is None or delivery.updated > mine.updated:
            self._track(delivery)
            if not delivery.active and delivery.id in self._running:
                self._running[delivery.id].cancel()

    def _unpark(self, endpoint: str) -> None:
        """The device's parked deliveries go back in the queue (it returned, or its running
        delivery ended)."""
        for delivery_id in self._parked.pop(endpoint, set()):
            if (found := self._active.get(delivery_id)) is not None:
                self._queue(found, found.next_attempt)

    def _done(self, delivery: Delivery, _task: object = None) -> None:
        self._running.pop(delivery.id, None)
        self._resumed.discard(delivery.id)
        if self._busy.get(delivery.endpoint) == delivery.id:
            del self._busy[delivery.endpoint]
        self._unpark(delivery.endpoint)
        current = self._active.get(delivery.id)
        if current is not None:  # still active (pending again): back in the queue
            self._queue(current, max(current.next_attempt, self._later.pop(delivery.id, 0.0)))
        self._wake.set()

    # one attempt
    async def _attempt(self, delivery: Delivery) -> None:
        try:
            try:
                await self._run(delivery)
            except AttemptFailed as failure:
                await self._failed(delivery, failure)
            except (asyncio.CancelledError, _Superseded, _HeldElsewhere):
                raise
            except Exception as exc:  # a bug must not stop other deliveries
                log.exception("delivery %d to %s", delivery.id, delivery.endpoint)
                await self._failed(delivery, AttemptFailed(f"internal error: {exc}"))
        except _Superseded:
            log.info("delivery %d to %s: cancelled or replaced", delivery.id, delivery.endpoint)
        except _HeldElsewhere:
            self._later[delivery.id] = time.time() + HELD_ELSEWHERE
        finally:
            if delivery.id in self._claimed:
                await asyncio.shield(self._release(delivery))

    async def _claim(self, delivery: Delivery) -> Delivery:
        """Count the attempt; with other nodes live, only once this node has the delivery."""
        membership = self.server.membership
        if not membership.shared:
            return await self._set(delivery, DeliveryChange(attempts=delivery.attempts + 1))

        async def claim(tx: Transaction) -> Delivery | None:
            if delivery.id not in self._active:  # cancelled or replaced meanwhile
                return None
            return await tx.deliveries.claim(delivery.id, membership.node.id,
                                             membership.live_ids())  # fmt: skip

        claimed = await self.writes.submit(claim)
        if delivery.id not in self._active:
            raise _Superseded
        if claimed is None:
            raise _HeldElsewhere
        self._track(claimed)
        if not claimed.active:
            raise _Superseded
        self._claimed.add(claimed.id)
        return claimed

    async def _release(self, delivery: Delivery) -> None:
        self._claimed.discard(delivery.id)
        with contextlib.suppress(Exception):  # (void anyway once this node is dead)
            async with self.store.transaction() as tx:
                await tx.deliveries.release(delivery.id, self.server.membership.node.id)

    async def _step(self) -> None:
        """Let the registration interface go first (at most yield_max seconds)."""
        await self.server.registrations.drained(self.config.yield_max)

    async def _set(self, delivery: Delivery, change: DeliveryChange) -> Delivery:
        async def write(tx: Transaction) -> Delivery | None:
            if delivery.id not in self._active:  # cancelled or replaced meanwhile
                return None
            return await tx.deliveries.update(delivery.id, change)

        updated = await self.writes.submit(write)  # (deliveries in flight share commits)
        if updated is None:
            raise _Superseded
        self._track(updated)
        if isinstance(change.state, DeliveryState):
            self._publish(updated, str(change.state))
        return updated

    def _publish(self, delivery: Delivery, stage: str) -> None:
        registration = self.server.registrations.by_endpoint(delivery.endpoint)
        if registration is not None:
            self.server.events.publish(
                Event(
                    EventKind.PROVISIONING,
                    registration,
                    {"stage": "delivery", "state": stage, "delivery": delivery},
                )
            )

    async def _run(self, delivery: Delivery) -> None:
        endpoint = delivery.endpoint
        await self._step()
        delivery = await self._claim(delivery)
        watch = self._watches[endpoint] = _Watch()
        try:
            watch.state = _int(_value(await self.server.observe(endpoint, STATE)))
            watch.result = _int(_value(await self.server.observe(endpoint, UPDATE_RESULT)))
            if watch.state == FirmwareState.UPDATING:
                # an install from before a restart: let it finish
                await self._set(delivery, DeliveryChange(state=DeliveryState.UPDATING))
                await self._finish(delivery, watch)
                return
            if watch.state == FirmwareState.IDLE and watch.result == FirmwareResult.SUCCESS and \
                    await self._installed(delivery):  # fmt: skip
                await self._set(delivery, DeliveryChange(state=DeliveryState.SUCCEEDED,
                                                         result=FirmwareResult.SUCCESS,
                                                         reason=None))
                return  # it finished while we were away
            if watch.state in (FirmwareState.DOWNLOADING, FirmwareState.DOWNLOADED):
                # not known to be ours: start over
                _value(
                    await self.server.write(
                        endpoint, PACKAGE, SingleResource(0, ResourceType.OPAQUE, b"")
                    )
                )
                await self._until(watch, lambda w: w.state == FirmwareState.IDLE, "cancelling")
            package = await self._package(delivery)
            delivery = await self._set(delivery, DeliveryChange(state=DeliveryState.TRANSFERRING))
            watch.state = watch.result = None  # only what the device reports from now on counts
            await self._step()
            await self._transfer(delivery, package)
            await self._until(watch, lambda w: w.state == FirmwareState.DOWNLOADED or (
                w.state == FirmwareState.IDLE and w.result not in (None, FirmwareResult.INITIAL)),
                "downloading")  # fmt: skip
            if watch.state != FirmwareState.DOWNLOADED:
                raise self._result_failure(watch.result)
            delivery = await self._set(delivery, DeliveryChange(state=DeliveryState.DOWNLOADED))
            await self._step()
            _value(await self.server.execute(endpoint, UPDATE))
            delivery = await self._set(delivery, DeliveryChange(state=DeliveryState.UPDATING))
            await self._finish(delivery, watch)
        finally:
            self._watches.pop(endpoint, None)
            for path in (STATE, UPDATE_RESULT):
                with contextlib.suppress(Exception):
                    await self.server.cancel_observation(endpoint, path)

    async def _package(self, delivery: Delivery) -> SignedPackage:
        """The artifact's package signed with the newest key the device trusts."""
        artifact = self._artifacts.get(delivery.artifact_id)
        if artifact is None:

            async def read(tx: Transaction) -> StoredArtifact | None:
                return await tx.artifacts.get(delivery.artifact_id)

            artifact = await self.writes.submit(read)
            if artifact is not None:
                self._artifacts[artifact.id] = artifact
        if artifact is None:
            raise AttemptFailed(f"no artifact {delivery.artifact_id[:12]}", retry=False)
        try:
            package = await self.trust.package_for(delivery.endpoint, artifact)
        except NoTrustedKey as exc:
            raise AttemptFailed(str(exc), retry=False) from None
        log.info("delivery %d to %s: package %s, key %s", delivery.id, delivery.endpoint,
                 package.id[:12], package.key_id)  # fmt: skip
        return package

    def _package_uri(self, delivery: Delivery, package: SignedPackage) -> str:
        """coaps:// on the DTLS port for a device registered over DTLS, else coap:// (which an
        OSCORE device fetches protected with its context)."""
        registration = self.server.registrations.by_endpoint(delivery.endpoint)
        dtls = self.server.credentials.of(delivery.endpoint) is not None
        if registration is not None and registration.secure and dtls and self.server.dtls_port:
            host, port, scheme = self.config.coaps_host, self.server.dtls_port, "coaps"
        else:
            host, port, scheme = self.config.package_host, self.server.port, "coap"
        uri = f"{scheme}://{uri_host(host)}:{port}/fw/{package.id}.pkg"
        assert len(uri) <= MAX_PACKAGE_URI, uri  # (ServerConfig refuses hosts that make more)
        return uri

    async def _transfer(self, delivery: Delivery, package: SignedPackage) -> None:
        if delivery.mode is DeliveryMode.PULL:
            uri = self._package_uri(delivery, package)
            _value(
                await self.server.write(
                    delivery.endpoint, PACKAGE_URI, SingleResource(1, ResourceType.STRING, uri)
                )
            )
            return
        name = f"{package.id}.pkg"  # (kept in memory by the package store once read)
        data = self.server.packages.cached(name)
        if data is None:
            data = await asyncio.to_thread(Path(package.path).read_bytes)
            self.server.packages.keep(name, data)
        response = await self.server.write(
            delivery.endpoint,
            PACKAGE,
            SingleResource(0, ResourceType.OPAQUE, data),
            content_format=ContentFormat.OPAQUE,
            timeout=self.config.delivery_timeout,
        )
        _value(response)

    async def _finish(self, delivery: Delivery, watch: _Watch) -> None:
        await self._until(watch, lambda w: w.state == FirmwareState.IDLE and
                          w.result not in (None, FirmwareResult.INITIAL), "installing")  # fmt: skip
        if watch.result != FirmwareResult.SUCCESS:
            raise self._result_failure(watch.result)
        if not await self._installed(delivery):
            raise AttemptFailed(f"device reports another package than {delivery.artifact_id[:12]}",
                                result=FirmwareResult.SUCCESS)  # fmt: skip
        await self._set(delivery, DeliveryChange(state=DeliveryState.SUCCEEDED,
                                                 result=FirmwareResult.SUCCESS, reason=None))
        log.info("%s runs %s (%s)", delivery.endpoint, delivery.model, delivery.artifact_id[:12])

    async def _installed(self, delivery: Delivery) -> bool:
        running = _value(await self.server.read(delivery.endpoint, PKG_VERSION))
        return running in await self.trust.package_ids(delivery.artifact_id)

    @staticmethod
    def _result_failure(result: int | None) -> AttemptFailed:
        reason = REASONS.get(result or 0, f"result {result}")
        return AttemptFailed(f"device result {result}: {reason}", result=result,
                             retry=result in RETRYABLE)  # fmt: skip

    async def _until(self, watch: _Watch, done: Callable[[_Watch], bool], doing: str) -> None:
        """Wait for the watched state to satisfy `done`, re-reading it every few seconds in
        case a notification is lost."""
        deadline = time.monotonic() + self.config.delivery_timeout
        endpoint = next(e for e, w in self._watches.items() if w is watch)
        while not done(watch):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AttemptFailed(f"no progress while {doing} for "
                                    f"{self.config.delivery_timeout:.0f} s")  # fmt: skip
            watch.changed.clear()
            try:
                await asyncio.wait_for(watch.changed.wait(), min(remaining, 5.0))
            except TimeoutError:
                watch.state = _int(_value(await self.server.read(endpoint, STATE)))
                watch.result = _int(_value(await self.server.read(endpoint, UPDATE_RESULT)))

    def _notified(self, event: Event) -> None:
        watch = self._watches.get(event.registration.endpoint)
        path = str(event.data.get("path"))
        if watch is None or path not in (str(STATE), str(UPDATE_RESULT)):
            return
        value = _int(getattr(event.data["response"].node, "value", None))
        if path == str(STATE):
            watch.state = value
        else:
            watch.result = value
        watch.changed.set()

    async def _failed(self, delivery: Delivery, failure: AttemptFailed) -> None:
        current = self._active.get(delivery.id)
        if current is None:
            return  # cancelled or replaced meanwhile
        final = not failure.retry or current.attempts >= self.config.max_attempts
        backoff = min(60.0, self.config.retry_backoff * 2 ** max(0, current.attempts - 1))
        log.info(
            "delivery %d to %s: attempt %d failed: %s%s",
            delivery.id,
            delivery.endpoint,
            current.attempts,
            failure,
            "" if final else f"; retry in {backoff:.0f} s",
        )
        await self._set(current, DeliveryChange(
            state=DeliveryState.FAILED if final else DeliveryState.PENDING, result=failure.result,
            reason=str(failure), next_attempt=time.time() + backoff))
