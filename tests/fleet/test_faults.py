"""Faults on either side lose nothing: a corrupted package, a device that vanishes mid-transfer
and a server stopped mid-transfer all end with the device running its model."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import aiocoap
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.delivery import Delivery
from lwm2m_mlaas.server import Event, EventKind
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.net import free_udp_port
from tests.helpers.processes import ServerProcess, until_up
from tests.helpers.service import Devices, deliveries, running, trust_key

pytestmark = pytest.mark.slow


def delivery_states(events: list[Event]) -> list[str]:
    return [
        e.data["state"]
        for e in events
        if e.kind is EventKind.PROVISIONING and e.data.get("stage") == "delivery"
    ]


async def test_a_corrupted_transfer_ends_in_result_5_and_a_retry(
    service: MlaasService, devices: Devices
) -> None:
    events: list[Event] = []
    with service.server.events.listening(events.append):
        device = await devices("dev-1", "mps2-an386", corrupt_fraction=1.0)
        await wait_for(lambda: "pending" in delivery_states(events), timeout=90)
        (first,) = await deliveries(service, "dev-1")
        assert first.result == 5 and first.reason is not None and "integrity" in first.reason
        device.config = replace(device.config, corrupt_fraction=0.0)  # the next copy arrives whole
        await wait_for(lambda: running(service, device), timeout=30)
    (delivery,) = await deliveries(service, "dev-1")
    assert delivery.state == "succeeded" and delivery.attempts >= 2


async def test_a_device_always_corrupting_fails_for_good_after_the_cap(
    service: MlaasService, devices: Devices
) -> None:
    await devices("dev-1", "mps2-an386", corrupt_fraction=1.0)

    async def failed() -> bool:
        return [d.state for d in await deliveries(service, "dev-1")] == ["failed"]

    await wait_for(failed, timeout=90)
    (delivery,) = await deliveries(service, "dev-1")
    assert delivery.attempts == service.config.max_attempts and delivery.result == 5
    assert service.provisioning.status["dev-1"].stage == "failed"


async def test_a_device_that_vanishes_mid_transfer_is_served_when_it_returns(
    service: MlaasService, devices: Devices, fleet_config: ServerConfig
) -> None:
    events: list[Event] = []
    with service.server.events.listening(events.append):
        # push in 64-byte blocks: the transfer takes long enough to be cut in the middle
        device = await devices("dev-1", "mps2-an386", block_size=64)
        await wait_for(lambda: sum(m.path == "/5/0/0" for m in device.messages) >= 3,
                       timeout=90, interval=0.005)  # fmt: skip
        await device.stop(deregister=False)  # gone without a word, mid-transfer
        await wait_for(lambda: "pending" in delivery_states(events), timeout=30)
        (cut,) = await deliveries(service, "dev-1")
        assert cut.reason is not None and cut.attempts == 1
        back = await devices("dev-1", "mps2-an386", block_size=64)
        await wait_for(lambda: running(service, back), timeout=30)
    (delivery,) = await deliveries(service, "dev-1")
    assert delivery.state == "succeeded" and delivery.attempts >= 2


async def test_a_server_stopped_mid_transfer_finishes_the_delivery_after_restart(
    fleet_config: ServerConfig, tmp_path: Path
) -> None:
    config = replace(fleet_config, coap_port=free_udp_port())
    first = MlaasService(config)
    await first.start()
    events: list[Event] = []
    device = SimulatedDevice(replace(
        DeviceConfig("dev-1", server=f"coap://127.0.0.1:{config.coap_port}", lifetime=20),
        board=BOARDS["mps2-an505"], task="sine", trust_key=trust_key(config),
        inference_interval=0.2, block_size=64))  # push, in many small blocks  # fmt: skip
    try:
        with first.server.events.listening(events.append):
            await device.start()
            await wait_for(lambda: sum(m.path == "/5/0/0" for m in device.messages) >= 3,
                           timeout=90, interval=0.005)  # fmt: skip
        await first.stop()  # mid-transfer: the attempt is cut off where it stands
        (cut,) = await deliveries_of(config)
        assert cut.active
        await asyncio.sleep(0.5)
        async with MlaasService(config) as second:
            await wait_for(lambda: running(second, device), timeout=60)
            (delivery,) = await deliveries(second, "dev-1")
            assert delivery.state == "succeeded"
    finally:
        await device.stop()


async def deliveries_of(config: ServerConfig) -> list[Delivery]:
    from lwm2m_mlaas.store import Store

    store = await Store.open(config.database_url)
    try:
        async with store.transaction() as tx:
            return await tx.deliveries.all()
    finally:
        await store.close()


async def test_an_operator_cancels_a_delivery_mid_transfer(
    service: MlaasService, devices: Devices
) -> None:
    device = await devices("dev-1", "mps2-an386", block_size=64)  # push, slowly
    await wait_for(lambda: sum(m.path == "/5/0/0" for m in device.messages) >= 3,
                   timeout=90, interval=0.005)  # fmt: skip
    (delivery,) = await deliveries(service, "dev-1")
    cancelled = await service.deliveries.cancel(delivery.id)
    assert cancelled.state == "cancelled"
    await wait_for(lambda: device.tree.get("/5/0/3") == 0)  # the empty write cancelled it
    (after,) = await deliveries(service, "dev-1")
    assert after.state == "cancelled" and device.tree.get("/5/0/7") == ""


async def test_a_server_killed_mid_transfer_finishes_the_delivery_after_restart(
    fleet_config: ServerConfig,
) -> None:
    from lwm2m_mlaas.sim.fleet import provisioned
    from lwm2m_mlaas.store import Store

    server = ServerProcess(fleet_config.data_dir / "mlaas.db", free_udp_port())
    settings = {"MLAAS_DELIVERY_TIMEOUT": "4", "MLAAS_RETRY_BACKOFF": "0.2",
                "MLAAS_REQUEST_TIMEOUT": "3"}  # fmt: skip
    server.start(**settings)
    device = SimulatedDevice(replace(
        DeviceConfig("dev-1", server=f"coap://127.0.0.1:{server.port}", lifetime=20),
        board=BOARDS["mps2-an386"], task="sine", trust_key=trust_key(fleet_config),
        inference_interval=0.2, block_size=64))  # push, in many small blocks  # fmt: skip
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        await until_up(client, server.port)
        await device.start()
        await wait_for(lambda: sum(m.path == "/5/0/0" for m in device.messages) >= 3,
                       timeout=120, interval=0.005)  # fmt: skip
        server.kill()  # SIGKILL mid-transfer
        assert not provisioned(device)
        server.start(**settings)
        await until_up(client, server.port)
        await wait_for(lambda: provisioned(device), timeout=90)
        store = await Store.open(fleet_config.database_url)
        try:

            async def succeeded() -> bool:
                async with store.transaction() as tx:
                    return [d.state for d in await tx.deliveries.all("dev-1")] == ["succeeded"]

            await wait_for(succeeded, timeout=30)
        finally:
            await store.close()
    finally:
        await device.stop()
        await client.shutdown()
        server.stop()
