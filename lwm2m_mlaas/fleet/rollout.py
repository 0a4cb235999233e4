"""Staged rollouts: a model (a task or a model name) goes to the devices a selector picks, a
canary first, then waves; a rollout pauses itself when too many devices fail, and can be
resumed, aborted or rolled back to what each device ran before. Every step is persisted, so a
restarted service carries on where it was."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..compiler.service import CompileService
from ..compiler.targets import choose_backend, load_catalogue
from ..core.delivery import DeliveryMode, DeliveryState
from ..core.fleet import (
    DeviceRecord,
    MemberChange,
    MemberState,
    Rollout,
    RolloutChange,
    RolloutMember,
    RolloutState,
)
from ..server import Lwm2mServer
from ..store import Transaction
from .delivery import DeliveryService

log = logging.getLogger(__name__)

SELECTOR_KEYS = ("class", "tag", "task", "endpoint")
TICK = 1.0
"""Seconds between passes over the active rollouts (events wake the loop sooner)."""


class _NotHere(Exception):
    """Another node holds the rollouts lease: it drives them."""


class RolloutRefused(Exception):
    """A rollout request that cannot be carried out in the rollout's state (HTTP 409)."""


class InvalidRollout(ValueError):
    """A rollout definition that is wrong in itself (HTTP 400)."""


def check_selector(selector: Mapping[str, str]) -> dict[str, str]:
    unknown = set(selector) - set(SELECTOR_KEYS)
    if unknown:
        raise InvalidRollout(f"unknown selector key(s) {', '.join(sorted(unknown))}; "
                             f"use {', '.join(SELECTOR_KEYS)}")  # fmt: skip
    if not all(isinstance(v, str) and v for v in selector.values()):
        raise InvalidRollout("selector values must be non-empty strings")
    return dict(selector)


def matches(selector: Mapping[str, str], device: DeviceRecord, tags: Iterable[str] = ()) -> bool:
    """All given keys must hold: class and task exactly, tag among the device's tags, endpoint
    as a shell glob."""
    checks: dict[str, Callable[[str], bool]] = {
        "class": lambda v: device.device_class == v,
        "task": lambda v: device.task == v,
        "tag": lambda v: v in (*device.tags, *tags),
        "endpoint": lambda v: fnmatch.fnmatchcase(device.endpoint, v),
    }
    return all(checks[key](value) for key, value in selector.items())


def plan_waves(count: int, canary: int, percents: Sequence[float]) -> list[int]:
    """Wave sizes: `canary` devices, then cumulative percentages of the rest (the last wave
    takes whatever remains)."""
    if canary < 0 or any(not 0 < p <= 100 for p in percents):
        raise InvalidRollout("the canary is 0 or more devices; wave percentages are in (0, 100]")
    if list(percents) != sorted(percents):
        raise InvalidRollout("wave percentages are cumulative, so they must increase")
    first = min(canary, count)
    rest = count - first
    waves = [first] if first else []
    done = 0
    for percent in percents:
        upto = min(rest, math.ceil(rest * percent / 100))
        if upto > done:
            waves.append(upto - done)
            done = upto
    if done < rest:
        waves.append(rest - done)
    return waves or [0]


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    rollout: Rollout
    members: tuple[RolloutMember, ...]


class RolloutService:
    def __init__(self, server: Lwm2mServer, compiler: CompileService,
                 deliveries: DeliveryService) -> None:  # fmt: skip
        self.server = server
        self.store = server.store
        self.compiler = compiler
        self.deliveries = deliveries
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        """Held by each pass and each operator action, so they never interleave."""
        self._any: bool | None = None
        """Whether the database holds a rollout (None: not read yet). Until one is created a
        device that registers has no rollout to join or keep, and costs no query here."""
        self._any_read = 0.0
        """When `_any` was read (another node may create the first rollout)."""

    def start(self) -> None:
        self._loop = asyncio.get_running_loop().create_task(self._run(), name="rollouts")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    def wake(self) -> None:
        self._wake.set()

    # operator actions
    async def create(self, name: str, target: str, selector: Mapping[str, str], *,
                     canary: int = 1, waves: Sequence[float] = (100,), max_concurrent: int = 10,
                     failure_threshold: float = 0.1) -> RolloutStatus:  # fmt: skip
        selector = check_selector(selector)
        if max_concurrent < 1:
            raise InvalidRollout("max_concurrent must be at least 1")
        if not 0 <= failure_threshold < 1:
            raise InvalidRollout("failure_threshold is a share of devices in [0, 1)")
        try:
            self.compiler.task_of(target)
        except LookupError:
            raise InvalidRollout(f"target {target!r} is neither a zoo task nor a model") from None
        async with self._lock, self.store.transaction() as tx:
            tags = await self._tags(tx)
            candidates = [d for d in await tx.devices.all()
                          if matches(selector, d, tags.get(d.endpoint, ()))]
            busy = {d.endpoint: await self._open_rollout(tx, d.endpoint) for d in candidates}
            free = [d for d in candidates if busy[d.endpoint] is None]
            if not candidates:
                raise InvalidRollout(f"no known device matches {selector}")
            sizes = plan_waves(len(free), canary, waves)
            self._any = True
            rollout = await tx.rollouts.add(name or target, target, selector, sizes,
                                             max_concurrent, failure_threshold)  # fmt: skip
            position = 0
            for wave, size in enumerate(sizes):
                for device in free[position:position + size]:
                    await tx.rollouts.add_member(rollout.id, device.endpoint, wave)
                position += size
            for device in candidates:
                if busy[device.endpoint] is not None:
                    await tx.rollouts.add_member(rollout.id, device.endpoint, len(sizes) - 1,
                                                 MemberState.SKIPPED,
                                                 f"in rollout {busy[device.endpoint]}")  # fmt: skip
            members = await tx.rollouts.members(rollout.id)
        log.info("rollout %d (%s): %d devices in waves %s", rollout.id, target, len(free), sizes)
        self.wake()
        return RolloutStatus(rollout, tuple(members))

    async def status(self, rollout_id: int) -> RolloutStatus:
        async with self.store.transaction() as tx:
            rollout = await tx.rollouts.get(rollout_id)
            if rollout is None:
                raise LookupError(f"no rollout {rollout_id}")
            return RolloutStatus(rollout, tuple(await tx.rollouts.members(rollout_id)))

    async def pause(self, rollout_id: int) -> RolloutStatus:
        return await self._transition(rollout_id, (RolloutState.RUNNING,), RolloutChange(
            state=RolloutState.PAUSED, reason="paused by the operator"))

    async def resume(self, rollout_id: int) -> RolloutStatus:
        """Carry on; failures before now no longer count toward the threshold."""
        return await self._transition(rollout_id, (RolloutState.PAUSED,), RolloutChange(
            state=RolloutState.RUNNING, reason=None, counted_from=time.time()))

    async def abort(self, rollout_id: int) -> RolloutStatus:
        """Stop: no further device starts, deliveries in flight are cancelled; devices that
        finished keep the new model."""
        async with self._lock:
            await self._stop_members(rollout_id, (RolloutState.RUNNING, RolloutState.PAUSED),
                                     "rollout aborted")
            async with self.store.transaction() as tx:
                await tx.rollouts.update(rollout_id, RolloutChange(
                    state=RolloutState.ABORTED, reason="aborted by the operator"))
        return await self.status(rollout_id)

    async def rollback(self, rollout_id: int) -> RolloutStatus:
        """Return every device the rollout changed to the artifact it ran before."""
        async with self._lock:
            await self._stop_members(rollout_id, (RolloutState.RUNNING, RolloutState.PAUSED,
                                                  RolloutState.COMPLETED, RolloutState.ABORTED),
                                     "rollout rolled back before this device started")
            async with self.store.transaction() as tx:
                await tx.rollouts.update(rollout_id, RolloutChange(
                    state=RolloutState.ROLLING_BACK, reason="rolled back by the operator"))
        self.wake()
        return await self.status(rollout_id)

    async def _transition(self, rollout_id: int, allowed: tuple[RolloutState, ...],
                          change: RolloutChange) -> RolloutStatus:  # fmt: skip
        async with self._lock, self.store.transaction() as tx:
            rollout = await tx.rollouts.get(rollout_id)
            if rollout is None:
                raise LookupError(f"no rollout {rollout_id}")
            if rollout.state not in allowed:
                raise RolloutRefused(f"rollout {rollout_id} is {rollout.state}")
            await tx.rollouts.update(rollout_id, change)
        self.wake()
        return await self.status(rollout_id)

    async def _stop_members(self, rollout_id: int, allowed: tuple[RolloutState, ...],
                            reason: str) -> None:
        async with self.store.transaction() as tx:
            rollout = await tx.rollouts.get(rollout_id)
            if rollout is None:
                raise LookupError(f"no rollout {rollout_id}")
            if rollout.state not in allowed:
                raise RolloutRefused(f"rollout {rollout_id} is {rollout.state}")
            members = await tx.rollouts.members(rollout_id)
            for member in members:
                if member.state is MemberState.PENDING:
                    await tx.rollouts.update_member(rollout_id, member.endpoint, MemberChange(
                        state=MemberState.SKIPPED, reason=reason))
        for member in members:
            if member.state is MemberState.IN_PROGRESS and member.delivery_id is not None:
                with contextlib.suppress(LookupError):
                    await self.deliveries.cancel(member.delivery_id)
                async with self.store.transaction() as tx:
                    await tx.rollouts.update_member(rollout_id, member.endpoint, MemberChange(
                        state=MemberState.FAILED, reason="delivery cancelled: " + reason))

    # devices joining
    async def join(self, endpoint: str) -> Rollout | None:
        """A device (re)classified: it joins the oldest active rollout it matches, unless it is
        in an unfinished one already. Returns the rollout it is in, if any."""
        if not await self._exist():
            return None
        async with self._lock, self.store.transaction() as tx:
            open_in = await self._open_rollout(tx, endpoint)
            if open_in is not None:
                self.wake()
                return await tx.rollouts.get(open_in)
            device = await tx.devices.get(endpoint)
            if device is None:
                return None
            tags = self.registration_tags(endpoint)
            memberships = {r.id for r, _m in await tx.rollouts.memberships(endpoint)}
            for rollout in await tx.rollouts.all((RolloutState.RUNNING, RolloutState.PAUSED)):
                if rollout.id not in memberships and matches(rollout.selector, device, tags):
                    await tx.rollouts.add_member(rollout.id, endpoint, len(rollout.waves) - 1)
                    log.info("%s joins rollout %d", endpoint, rollout.id)
                    self.wake()
                    return rollout
        return None

    async def target_for(self, endpoint: str) -> str | None:
        """The target of the newest rollout that put its model on the device (and was not
        rolled back)."""
        if not await self._exist():
            return None
        async with self.store.transaction() as tx:
            memberships = await tx.rollouts.memberships(endpoint)
        for rollout, member in reversed(memberships):
            if member.state is MemberState.SUCCEEDED and rollout.state not in (
                    RolloutState.ROLLING_BACK, RolloutState.ROLLED_BACK):
                return rollout.target
        return None

    async def _exist(self) -> bool:
        stale = self.server.membership.shared and time.monotonic() - self._any_read > TICK
        if self._any is None or (stale and not self._any):
            self._any_read = time.monotonic()
            async with self.store.transaction() as tx:
                self._any = self._any or bool(await tx.rollouts.all())
        return self._any

    @staticmethod
    async def _open_rollout(tx: Transaction, endpoint: str) -> int | None:
        for rollout, member in await tx.rollouts.memberships(endpoint):
            if rollout.state.active and member.state.open:
                return rollout.id
        return None

    def registration_tags(self, endpoint: str) -> tuple[str, ...]:
        """A tag the device gave itself at registration (?tag=)."""
        registration = self.server.registrations.by_endpoint(endpoint)
        tag = registration.additional_attributes.get("tag") if registration else None
        return (tag,) if tag else ()

    async def _tags(self, tx: Transaction) -> dict[str, tuple[str, ...]]:
        """The registration tags of the fleet (registered on any node), by endpoint."""
        if self.server.membership.shared:
            registrations = await tx.registrations.all()
        else:
            registrations = self.server.registrations.all()
        return {r.endpoint: (r.additional_attributes["tag"],) for r in registrations
                if r.additional_attributes.get("tag")}  # fmt: skip

    async def _online(self, endpoints: list[str]) -> set[str]:
        """Those of the endpoints registered now, on this node or another live one."""
        if not self.server.membership.shared:
            return {e for e in endpoints if self.server.registrations.by_endpoint(e) is not None}
        async with self.store.transaction() as tx:
            nodes = await tx.registrations.nodes_of(endpoints)
        live = self.server.membership.live_ids()
        return {e for e, node in nodes.items() if node in live}

    # the engine
    async def _run(self) -> None:
        while True:
            try:
                async with self._lock:
                    if not await self.server.membership.hold("rollouts"):
                        raise _NotHere
                    async with self.store.transaction() as tx:
                        active = await tx.rollouts.all((RolloutState.RUNNING,
                                                               RolloutState.ROLLING_BACK))
                    for rollout in active:
                        await self._advance(rollout)
            except asyncio.CancelledError:
                raise
            except _NotHere:
                pass
            except Exception:  # a bug must not stop every rollout
                log.exception("rollout pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)

    async def _advance(self, rollout: Rollout) -> None:
        members = await self._sync(rollout)
        if rollout.state is RolloutState.ROLLING_BACK:
            await self._roll_back(rollout, members)
            return
        since = [m for m in members if m.finished is not None and m.finished >= rollout.counted_from
                 and m.state in (MemberState.SUCCEEDED, MemberState.FAILED)]  # fmt: skip
        failed = sum(m.state is MemberState.FAILED for m in since)
        if failed and failed / len(since) > rollout.failure_threshold:
            reason = (f"{failed} of {len(since)} devices failed, more than "
                      f"{rollout.failure_threshold:.0%}")  # fmt: skip
            async with self.store.transaction() as tx:
                await tx.rollouts.update(rollout.id, RolloutChange(state=RolloutState.PAUSED,
                                                                   reason=reason))
            log.warning("rollout %d paused: %s", rollout.id, reason)
            return
        if all(m.state.finished for m in members):
            async with self.store.transaction() as tx:
                await tx.rollouts.update(rollout.id, RolloutChange(state=RolloutState.COMPLETED,
                                                                   reason=None))
            log.info("rollout %d completed", rollout.id)
            return
        online = await self._online([m.endpoint for m in members if not m.state.finished])
        current = 0  # the first wave with an online device still to finish
        while current < len(rollout.waves) and all(
                m.state.finished or m.endpoint not in online
                for m in members if m.wave == current):  # fmt: skip
            current += 1
        in_flight = sum(m.state is MemberState.IN_PROGRESS for m in members)
        for member in members:
            if in_flight >= rollout.max_concurrent:
                break
            startable = member.state is MemberState.PENDING and member.wave <= current
            if startable and member.endpoint in online and await self._start(rollout, member):
                in_flight += 1

    async def _sync(self, rollout: Rollout) -> list[RolloutMember]:
        """Members in flight take their delivery's outcome."""
        async with self.store.transaction() as tx:
            members = await tx.rollouts.members(rollout.id)
            for member in members:
                flying = member.state in (MemberState.IN_PROGRESS, MemberState.ROLLING_BACK)
                if not flying or member.delivery_id is None:
                    continue
                delivery = await tx.deliveries.get(member.delivery_id)
                if delivery is None or delivery.active:
                    continue
                back = member.state is MemberState.ROLLING_BACK
                reason: str | None = None
                if delivery.state is DeliveryState.SUCCEEDED:
                    state = MemberState.ROLLED_BACK if back else MemberState.SUCCEEDED
                else:
                    state = MemberState.SUCCEEDED if back else MemberState.FAILED
                    reason = (("rollback failed: " if back else "") +
                              (delivery.reason or delivery.state))  # fmt: skip
                await tx.rollouts.update_member(rollout.id, member.endpoint,
                                                MemberChange(state=state, reason=reason))
            return await tx.rollouts.members(rollout.id)

    async def _start(self, rollout: Rollout, member: RolloutMember) -> bool:
        async with self.store.transaction() as tx:
            device = await tx.devices.get(member.endpoint)
            history = await tx.deliveries.all(member.endpoint)
            runtimes = await tx.devices.runtimes(member.endpoint)
        if device is None or device.device_class is None:
            return False  # classified when it next registers
        outcome = await self.compiler.compile(rollout.target, device.device_class,
                                              self._backend(device.device_class, runtimes))
        artifact = outcome.artifact
        succeeded = [d for d in history if d.state is DeliveryState.SUCCEEDED]
        previous = succeeded[-1] if succeeded else None
        async with self.store.transaction() as tx:
            if artifact is None:
                await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                    state=MemberState.SKIPPED, device_class=device.device_class,
                    reason=outcome.reason or "nothing fits"))
                return False
            if previous is not None and previous.artifact_id == artifact.id:
                await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                    state=MemberState.SKIPPED, device_class=device.device_class,
                    artifact_id=artifact.id, reason=f"already runs {artifact.model}"))
                return False
        mode = previous.mode if previous else self._class_mode(device.device_class)
        delivery = await self.deliveries.deliver(member.endpoint, artifact.id, artifact.model,
                                                 device.device_class, mode)  # fmt: skip
        async with self.store.transaction() as tx:
            await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                state=MemberState.IN_PROGRESS, reason=None, device_class=device.device_class,
                artifact_id=artifact.id,
                previous_artifact_id=previous.artifact_id if previous else None,
                delivery_id=delivery.id))
        return True

    async def _roll_back(self, rollout: Rollout, members: list[RolloutMember]) -> None:
        to_return = [m for m in members if m.state is MemberState.SUCCEEDED
                     and m.previous_artifact_id and m.reason is None]  # fmt: skip
        in_flight = sum(m.state is MemberState.ROLLING_BACK for m in members)
        if not to_return and not in_flight:
            async with self.store.transaction() as tx:
                for member in members:
                    if member.state is MemberState.SUCCEEDED and not member.previous_artifact_id:
                        await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                            reason="no earlier model: keeps the rollout's"))
                await tx.rollouts.update(rollout.id, RolloutChange(state=RolloutState.ROLLED_BACK))
            log.info("rollout %d rolled back", rollout.id)
            return
        online = await self._online([m.endpoint for m in to_return])
        for member in to_return:
            if in_flight >= rollout.max_concurrent:
                break
            if member.endpoint not in online:
                continue  # rolled back when it returns
            async with self.store.transaction() as tx:
                artifact = await tx.artifacts.get(str(member.previous_artifact_id))
                history = await tx.deliveries.all(member.endpoint)
            if artifact is None:
                async with self.store.transaction() as tx:
                    await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                        reason="its earlier artifact is gone"))
                continue
            mode = history[-1].mode if history else self._class_mode(artifact.device_class)
            delivery = await self.deliveries.deliver(member.endpoint, artifact.id, artifact.model,
                                                     artifact.device_class, mode)  # fmt: skip
            async with self.store.transaction() as tx:
                await tx.rollouts.update_member(rollout.id, member.endpoint, MemberChange(
                    state=MemberState.ROLLING_BACK, delivery_id=delivery.id))
            in_flight += 1

    @staticmethod
    def _backend(class_name: str, runtimes: tuple[str, ...] | None) -> str | None:
        """As provisioning chooses: the class's native runtime when the device reported it,
        else TFLite-Micro (None, the class's preferred backend, when nothing was reported)."""
        found = load_catalogue().get(class_name)
        if found is None or runtimes is None:
            return None
        return choose_backend(found, runtimes)

    @staticmethod
    def _class_mode(class_name: str) -> DeliveryMode:
        found = load_catalogue().get(class_name)
        return DeliveryMode(found.delivery) if found else DeliveryMode.PULL
