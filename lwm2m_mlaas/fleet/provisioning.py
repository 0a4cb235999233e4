"""Provisioning: a device that registers (or updates with changed objects) is read, classified,
given the model chosen for it, compiled for its class and the runtime it reports (one compile
per class and backend: the class's native runtime when the device runs it, else TFLite-Micro)
and delivered to, unless it already runs a package of that artifact. The signing keys it
reports trusting (/32100/0/9) are recorded on the way: its package is signed with the newest of
them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace

from ..compiler.service import CompileFailed, CompileService, UnknownTarget
from ..compiler.targets import (
    BOARD,
    ML_CAPABILITY,
    DeviceClass,
    capabilities_from,
    choose_backend,
    classify,
)
from ..core.delivery import DeliveryMode
from ..core.errors import UnknownRegistration
from ..core.firmware_update import DELIVERY_METHOD, PKG_VERSION, DeliveryMethod
from ..core.fleet import DeviceChange, DeviceRecord
from ..core.nodes import ObjectInstance, SingleResource
from ..core.paths import Lwm2mPath
from ..core.registration import Registration
from ..core.requests import Response
from ..server import Event, EventKind, Lwm2mServer, Queued
from ..store import Transaction
from .delivery import DeliveryService
from .rollout import RolloutService
from .trust import NoTrustedKey

log = logging.getLogger(__name__)

MODES: dict[int, DeliveryMode] = {DeliveryMethod.PULL: DeliveryMode.PULL,
                                  DeliveryMethod.PUSH: DeliveryMode.PUSH}
"""/5/0/9 Firmware Update Delivery Method; 2 (both) takes the class's default."""


@dataclass(frozen=True, slots=True)
class Provision:
    """Where provisioning stands for one device."""

    endpoint: str
    stage: str
    """queued, reading, classified, compiled, delivering, running or failed."""
    device_class: str | None = None
    target: str | None = None
    """The task or model chosen for the device."""
    model: str | None = None
    artifact_id: str | None = None
    arena_bytes: int | None = None
    mode: DeliveryMode | None = None
    reason: str | None = None
    backend: str | None = None
    """The runtime the model is compiled for: tflm or the class's native runtime."""


class ProvisioningFailed(Exception):
    pass


class DeviceAsleep(ProvisioningFailed):
    """A queue-mode device fell asleep before it was read: provisioned again when it wakes."""


def _answered(response: Response | Queued, what: str) -> Response:
    if isinstance(response, Queued):
        raise DeviceAsleep(f"{what}: the device sleeps; provisioned when it wakes")
    return response


def _instance(response: Response | Queued, what: str) -> ObjectInstance:
    response = _answered(response, what)
    if not response.success or not isinstance(response.node, ObjectInstance):
        raise ProvisioningFailed(f"reading {what} failed: {response.error or response.code.name}")
    return response.node


class ProvisioningService:
    """Devices to provision wait in a queue (once each, in order of arrival); at most
    `provisioning_reads` are read and classified at once, and every step lets the
    registration interface go first (RegistrationService.drained)."""

    def __init__(self, server: Lwm2mServer, compiler: CompileService,
                 deliveries: DeliveryService, rollouts: RolloutService | None = None
                 ) -> None:  # fmt: skip
        self.server = server
        self.store = server.store
        self.config = server.config
        self.compiler = compiler
        self.deliveries = deliveries
        self.status: dict[str, Provision] = {}
        self.rollouts = rollouts
        """Set by the service: a device in an unfinished rollout is left to it."""
        self._queue: OrderedDict[str, None] = OrderedDict()
        self._asleep: set[str] = set()
        """Devices that fell asleep while they were read (DeviceAsleep)."""
        self._queued = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[Provision]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._listening = server.events.listening(self._on_event)
        self._started = False

    def start(self) -> None:
        self._listening.__enter__()
        self._started = True
        self._workers = [asyncio.create_task(self._work(), name=f"provisioning {n}")
                         for n in range(max(1, self.config.provisioning_reads))]  # fmt: skip

    async def stop(self) -> None:
        if self._started:
            self._listening.__exit__(None, None, None)
            self._started = False
        tasks = [*self._workers, *self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def queued(self) -> int:
        """Devices waiting for a provisioning slot."""
        return len(self._queue)

    def _on_event(self, event: Event) -> None:
        kind, registration = event.kind, event.registration
        if kind is EventKind.REGISTRATION or (
            kind is EventKind.UPDATED and event.data.get("objectsChanged")
        ):
            self.trigger(registration.endpoint)
        elif kind in (EventKind.UPDATED, EventKind.AWAKE) and registration.endpoint in self._asleep:
            self.trigger(registration.endpoint)  # it listens now
        elif kind is EventKind.PROVISIONING and event.data.get("stage") == "delivery":
            delivery = event.data["delivery"]
            current = self.status.get(delivery.endpoint) or Provision(  # resumed after a restart
                delivery.endpoint, "delivering", delivery.device_class, model=delivery.model,
                artifact_id=delivery.artifact_id, mode=delivery.mode)  # fmt: skip
            state = event.data["state"]
            if state != "cancelled":  # (a rollout's delivery too)
                stage = {"succeeded": "running", "failed": "failed"}.get(state, "delivering")
                self._record(replace(current, stage=stage, model=delivery.model,
                                     artifact_id=delivery.artifact_id, mode=delivery.mode,
                                     reason=delivery.reason if stage == "failed" else None))
        elif kind in (EventKind.DEREGISTRATION, EventKind.EXPIRED):
            self._asleep.discard(registration.endpoint)
            self._queue.pop(registration.endpoint, None)
            task = self._tasks.pop(registration.endpoint, None)
            if task is not None:
                task.cancel()

    def trigger(self, endpoint: str) -> None:
        """Provision the device (again) when a slot is free; a provisioning under way for it
        is abandoned."""
        self._asleep.discard(endpoint)
        running = self._tasks.get(endpoint)
        if running is not None and not running.done():
            running.cancel()
        if endpoint not in self._queue:
            self._queue[endpoint] = None
            self._record(Provision(endpoint, "queued"))
        self._queued.set()

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._queued.clear()
                await self._queued.wait()
            endpoint, _ = self._queue.popitem(last=False)
            task = asyncio.create_task(self.provision(endpoint), name=f"provision {endpoint}")
            self._tasks[endpoint] = task
            await asyncio.wait([task])  # (cancelled when the device registers again)
            if self._tasks.get(endpoint) is task:
                del self._tasks[endpoint]

    async def _read(self, endpoint: str, path: str | Lwm2mPath) -> Response | Queued:
        await self.server.registrations.drained(self.config.yield_max)
        return await self.server.read(endpoint, path)

    def _record(self, provision: Provision) -> Provision:
        self.status[provision.endpoint] = provision
        registration = self.server.registrations.by_endpoint(provision.endpoint)
        if registration is not None and provision.stage != "delivering":
            self.server.events.publish(Event(EventKind.PROVISIONING, registration, {
                "stage": provision.stage, "provision": provision}))  # fmt: skip
        return provision

    async def provision(self, endpoint: str) -> Provision:
        status = self._record(Provision(endpoint, "reading"))
        try:
            registration = await self.server.registration(endpoint)
            ml = _instance(await self._read(endpoint, f"/{ML_CAPABILITY}/0"),
                           f"/{ML_CAPABILITY}/0")  # fmt: skip
            device = ObjectInstance.of(0)
            if not getattr(ml.resources.get(BOARD), "value", None):  # the Model Number instead
                model_number = _answered(await self._read(endpoint, "/3/0/1"), "/3/0/1")
                if model_number.success and isinstance(model_number.node, SingleResource):
                    device = ObjectInstance.of(0, model_number.node)
            try:
                reported = capabilities_from(device, ml)
            except ValueError as exc:
                raise ProvisioningFailed(str(exc)) from None
            device_class = classify(reported)
            if device_class is None:
                raise ProvisioningFailed(
                    f"no device class offers a {reported.core} with "
                    f"{reported.ml_ram_bytes // 1024} KB ML RAM and "
                    f"{reported.ml_flash_bytes // 1024} KB ML flash"
                )
            backend = choose_backend(device_class, reported.runtimes)
            if backend is None:
                raise ProvisioningFailed(
                    f"the device runs {', '.join(reported.runtimes) or 'no runtime'}, class "
                    f"{device_class.name} offers {', '.join(device_class.runtimes)}"
                )
            requested = getattr(ml.resources.get(5), "value", None)
            trust = self.deliveries.trust
            await trust.keys()

            async def record(tx: Transaction) -> None:
                await trust.record(endpoint, ml.resources.get(9), tx)
                await tx.devices.record(endpoint, DeviceChange(
                    device_class=device_class.name,
                    task=requested if isinstance(requested, str) else None))
                await tx.devices.record_runtimes(endpoint, reported.runtimes)

            await self.deliveries.writes.submit(record)  # (shares a commit with other devices)
            trust.offer(endpoint)
            if self.rollouts is not None:
                rollout = await self.rollouts.join(endpoint)
                if rollout is not None:
                    return self._record(replace(status, stage="rollout",
                                                device_class=device_class.name, backend=backend,
                                                target=rollout.target,
                                                reason=f"in rollout {rollout.id}"))  # fmt: skip
            target = await self.choose(registration, device_class, requested)
            status = self._record(replace(status, stage="classified",
                                          device_class=device_class.name, target=target,
                                          backend=backend))  # fmt: skip
            try:
                outcome = await self.compiler.compile(target, device_class.name, backend)
            except (UnknownTarget, CompileFailed) as exc:
                raise ProvisioningFailed(str(exc)) from None
            artifact = outcome.artifact
            if artifact is None:
                raise ProvisioningFailed(outcome.reason or "no variant fits the class")
            mode = await self._mode(endpoint, device_class)
            status = self._record(
                replace(
                    status,
                    stage="compiled",
                    model=artifact.model,
                    artifact_id=artifact.id,
                    arena_bytes=artifact.arena_bytes,
                    mode=mode,
                )
            )
            running = await self._read(endpoint, PKG_VERSION)
            if isinstance(running, Response) and getattr(running.node, "value", None) in \
                    await trust.package_ids(artifact.id):  # fmt: skip
                return self._record(replace(status, stage="running"))
            try:
                await trust.package_for(endpoint, artifact)  # signed now, so delivery finds it
            except NoTrustedKey as exc:
                raise ProvisioningFailed(str(exc)) from None
            status = self._record(replace(status, stage="delivering"))
            await self.deliveries.deliver(endpoint, artifact.id, artifact.model,
                                          device_class.name, mode)  # fmt: skip
            return status
        except ProvisioningFailed as exc:
            log.info("provisioning %s: %s", endpoint, exc)
            if isinstance(exc, DeviceAsleep):
                self._asleep.add(endpoint)
            return self._record(replace(status, stage="failed", reason=str(exc)))
        except UnknownRegistration:
            return self._record(replace(status, stage="failed", reason="no longer registered"))
        except Exception as exc:  # a bug must not leave the device waiting without a reason
            log.exception("provisioning %s", endpoint)
            return self._record(replace(status, stage="failed", reason=f"internal error: {exc}"))

    async def choose(self, registration: Registration, device_class: DeviceClass,
                     requested: object) -> str:  # fmt: skip
        """The model of the last rollout that reached the device, else the operator's
        assignment for the endpoint, one of its tags or its class, else the task the device
        asks for (/32100/0/5)."""
        if self.rollouts is not None:
            rolled_out = await self.rollouts.target_for(registration.endpoint)
            if rolled_out is not None:
                return rolled_out

        async def read(tx: Transaction) -> tuple[dict[tuple[str, str], str], DeviceRecord | None]:
            return await tx.devices.assignments(), await tx.devices.get(registration.endpoint)

        assignments, device = await self.deliveries.writes.submit(read)
        tags = list(device.tags) if device else []
        if registration.additional_attributes.get("tag"):
            tags.append(registration.additional_attributes["tag"])
        keys = [("endpoint", registration.endpoint), *(("tag", t) for t in tags),
                ("class", device_class.name)]  # fmt: skip
        for key in keys:
            if key in assignments:
                return assignments[key]
        if isinstance(requested, str) and requested:
            return requested
        raise ProvisioningFailed("the device asks for no task (/32100/0/5) and no model is "
                                 "assigned to it, its tag or its class")  # fmt: skip

    async def _mode(self, endpoint: str, device_class: DeviceClass) -> DeliveryMode:
        method = None
        with contextlib.suppress(Exception):
            response = await self._read(endpoint, DELIVERY_METHOD)
            if isinstance(response, Response):
                method = getattr(response.node, "value", None)
        chosen = MODES.get(method) if isinstance(method, int) else None
        return chosen or DeliveryMode(device_class.delivery)
