"""Provisioning and delivery are admitted at a bounded rate and yield to the registration
interface: devices read at once, transfers in flight, and every step waits while /rd is busy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.delivery import Delivery, DeliveryChange, DeliveryMode, DeliveryState
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Event, EventKind, Queued
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import Devices, answered, trust_key

pytestmark = pytest.mark.slow

FLEET = 6


@pytest.fixture
async def narrow(fleet_config: ServerConfig) -> AsyncIterator[MlaasService]:
    config = replace(fleet_config, provisioning_reads=2, max_transfers=2)
    async with MlaasService(config) as running:
        yield running


async def test_reads_and_transfers_in_flight_stay_within_their_bounds(
    narrow: MlaasService, fleet_config: ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, reading, peak_reads, peak_transfers = narrow.server, 0, 0, 0
    read = server.read

    async def counted(*args: Any, **kwargs: Any) -> Response | Queued:
        nonlocal reading, peak_reads
        provisioning = asyncio.current_task() in narrow.provisioning._tasks.values()
        reading += provisioning
        peak_reads = max(peak_reads, reading)
        try:
            return await read(*args, **kwargs)
        finally:
            reading -= provisioning

    def on_event(event: Event) -> None:
        nonlocal peak_transfers
        if event.kind is EventKind.PROVISIONING and event.data.get("stage") == "delivery":
            peak_transfers = max(peak_transfers, narrow.deliveries.in_flight)

    monkeypatch.setattr(server, "read", counted)
    fleet = [SimulatedDevice(replace(DeviceConfig(f"dev-{n}", server=f"coap://127.0.0.1:"
                                                  f"{server.port}"), board=BOARDS["mps2-an386"],
                                     task="sine", inference_interval=0,
                                     trust_key=trust_key(fleet_config)), server.model)
             for n in range(FLEET)]  # fmt: skip
    with server.events.listening(on_event):
        try:
            await asyncio.gather(*(d.start() for d in fleet))
            await wait_for(lambda: all(
                (s := narrow.provisioning.status.get(d.config.endpoint)) is not None
                and s.stage == "running" for d in fleet), timeout=120)  # fmt: skip
        finally:
            await asyncio.gather(*(d.stop() for d in fleet))
    assert 1 <= peak_reads <= 2
    assert 1 <= peak_transfers <= 2


async def test_a_busy_registration_interface_holds_background_steps_back(
    service: MlaasService,
) -> None:
    registrations = service.server.registrations
    holds = [registrations.handling() for _ in range(registrations.busy_at)]
    for hold in holds:
        hold.__enter__()
    waiting = asyncio.create_task(registrations.drained(max_wait=30))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # busy: the step waits
    holds.pop().__exit__(None, None, None)
    await asyncio.wait_for(waiting, 1)  # drained below the mark: it goes on at once
    holds.append(registrations.handling())
    holds[-1].__enter__()
    started = asyncio.get_running_loop().time()
    await registrations.drained(max_wait=0.3)  # busy for longer: it goes on all the same
    assert 0.25 <= asyncio.get_running_loop().time() - started < 2
    for hold in holds:
        hold.__exit__(None, None, None)
    assert registrations.in_flight == 0


async def test_a_device_queued_for_provisioning_says_so(
    service: MlaasService, devices: Devices
) -> None:
    stages: list[str] = []

    def on_event(event: Event) -> None:
        if event.kind is EventKind.PROVISIONING and event.registration.endpoint == "dev-q":
            stages.append(event.data["stage"])

    with service.server.events.listening(on_event):
        await devices("dev-q")
        await wait_for(lambda: "running" in stages or "delivery" in stages, timeout=90)
    assert stages[:2] == ["queued", "reading"]


async def test_with_provisioning_off_a_device_is_registered_and_left_alone(
    fleet_config: ServerConfig,
) -> None:
    async with MlaasService(replace(fleet_config, provisioning=False)) as service:
        device = SimulatedDevice(DeviceConfig("dev-off", server=f"coap://127.0.0.1:"
                                              f"{service.server.port}", inference_interval=0),
                                 service.server.model)  # fmt: skip
        await device.start()
        try:
            assert service.server.registrations.by_endpoint("dev-off") is not None
            await asyncio.sleep(2.0)
            assert "dev-off" not in service.provisioning.status
            assert [m for m in device.messages if m.method == "GET"] == []
            response = answered(await service.server.read("dev-off", "/3/0/0"))  # still managed
            assert response.success
        finally:
            await device.stop()


async def test_while_the_registration_interface_is_busy_few_transfers_start(
    fleet_config: ServerConfig,
) -> None:
    """An eighth of max_transfers (here 2 of 16) while /rd is busy; once it drains every
    device gets its model."""
    config = replace(fleet_config, max_transfers=16, yield_max=0.2)
    async with MlaasService(config) as service:
        server, peak = service.server, 0
        holds = [server.registrations.handling() for _ in range(server.registrations.busy_at)]
        for hold in holds:
            hold.__enter__()
        fleet = [SimulatedDevice(replace(DeviceConfig(f"busy-{n}", server=f"coap://127.0.0.1:"
                                                      f"{server.port}"),
                                         board=BOARDS["mps2-an386"], task="sine",
                                         inference_interval=0,
                                         trust_key=trust_key(fleet_config)), server.model)
                 for n in range(FLEET)]  # fmt: skip

        def sampled() -> bool:  # the peak in flight, until 4 devices wait for theirs
            nonlocal peak
            peak = max(peak, service.deliveries.in_flight)
            return peak >= 1 and sum(
                (s := service.provisioning.status.get(d.config.endpoint)) is not None
                and s.stage == "delivering" for d in fleet) >= 4  # fmt: skip

        try:
            await asyncio.gather(*(d.start() for d in fleet))
            await wait_for(sampled, timeout=60, interval=0.01)
            busy_peak = peak
            for hold in holds:
                hold.__exit__(None, None, None)
            await wait_for(lambda: all(
                (s := service.provisioning.status.get(d.config.endpoint)) is not None
                and s.stage == "running" for d in fleet), timeout=60)  # fmt: skip
        finally:
            await asyncio.gather(*(d.stop() for d in fleet))
        assert not server.registrations.busy
        assert 1 <= busy_peak <= 16 // 8


async def test_deliveries_past_pending_resume_beyond_the_busy_share(
    fleet_config: ServerConfig,
) -> None:
    """Transfers a restart or a dead node left mid-way start first, all of them, while /rd is
    busy; pending ones wait for the share (2 of 16) to have room."""
    config = replace(fleet_config, provisioning=False, max_transfers=16, yield_max=30)
    async with MlaasService(config) as service:
        server = service.server
        fleet = [SimulatedDevice(DeviceConfig(f"resume-{n}", server=f"coap://127.0.0.1:"
                                              f"{server.port}", inference_interval=0),
                                 server.model) for n in range(FLEET)]  # fmt: skip
        holds = [server.registrations.handling() for _ in range(server.registrations.busy_at)]
        try:
            await asyncio.gather(*(d.start() for d in fleet))
            for hold in holds:
                hold.__enter__()
            rows: list[Delivery] = []
            async with server.store.transaction() as tx:
                for n, device in enumerate(fleet):
                    row = await tx.deliveries.add(device.config.endpoint, "a1", "sine",
                                                  "mps2-an386", DeliveryMode.PULL)  # fmt: skip
                    if n % 2:
                        row = await tx.deliveries.update(row.id, DeliveryChange(
                            state=DeliveryState.TRANSFERRING))  # fmt: skip
                    rows.append(row)
            for row in rows:
                service.deliveries._track(row)
            await asyncio.sleep(1.0)  # (each attempt waits for /rd to drain: up to 30 s)
            resumed = {r.id for r in rows if r.state is DeliveryState.TRANSFERRING}
            assert set(service.deliveries._running) == resumed  # 3 > 2, and no pending one
        finally:
            for hold in holds:
                hold.__exit__(None, None, None)
            await asyncio.gather(*(d.stop() for d in fleet))
