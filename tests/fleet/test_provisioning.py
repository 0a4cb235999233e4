"""End to end over loopback: a device registers and, with nobody touching it, runs the model
compiled for its class, delivered by push or pull over object 5."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import Devices, deliveries, running, trust_key

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("board", "mode"), [("mps2-an386", "push"), ("nrf52840", "pull")])
async def test_a_registered_device_ends_up_running_its_model(
    service: MlaasService, devices: Devices, board: str, mode: str
) -> None:
    device = await devices("dev-1", board)
    await wait_for(lambda: running(service, device), timeout=90)
    status = service.provisioning.status["dev-1"]
    assert (status.device_class, status.target, status.mode) == (board, "sine", mode)
    assert device.tree.get("/5/0/7") == status.artifact_id
    assert device.tree.get("/5/0/5") == 1 and device.tree.get("/5/0/3") == 0
    assert device.tree.get("/32101/0/0") == status.model

    def inferences() -> int:
        count = device.tree.get("/32101/0/2")
        assert isinstance(count, int)
        return count

    await wait_for(lambda: inferences() >= 2)
    (delivery,) = await deliveries(service, "dev-1")
    assert (delivery.state, delivery.mode, delivery.attempts) == ("succeeded", mode, 1)


async def test_the_model_number_is_read_only_when_the_ml_capability_names_no_board(
    service: MlaasService, devices: Devices, fleet_config: ServerConfig
) -> None:
    """/32100/0 is what classifies a device; /3/0/1 (Model Number) is read as the board hint
    only when /32100/0/8 is empty."""
    named = await devices("dev-named", "mps2-an386")
    config = replace(DeviceConfig("dev-unnamed", server=f"coap://127.0.0.1:{service.server.port}"),
                     board=BOARDS["mps2-an386"], task="sine", trust_key=trust_key(fleet_config))
    unnamed = SimulatedDevice(config, service.server.model)
    unnamed.tree.set("/32100/0/8", "")
    await unnamed.start()
    try:
        for device in (named, unnamed):
            await wait_for(lambda d=device: running(service, d), timeout=90)
        reads = {d.config.endpoint: [m.path for m in d.messages if m.method == "GET"
                                     and m.path.startswith(("/3/", "/32100/"))]
                 for d in (named, unnamed)}  # fmt: skip
        assert reads == {"dev-named": ["/32100/0"], "dev-unnamed": ["/32100/0", "/3/0/1"]}
        assert service.provisioning.status["dev-unnamed"].device_class == "mps2-an386"
    finally:
        await unnamed.stop()


async def test_devices_of_one_class_share_one_compile_and_a_running_device_is_left_alone(
    service: MlaasService, devices: Devices
) -> None:
    first = await devices("dev-a", "stm32f746")
    second = await devices("dev-b", "stm32f746")
    await wait_for(lambda: running(service, first) and running(service, second), timeout=90)
    assert first.tree.get("/5/0/7") == second.tree.get("/5/0/7")
    async with service.server.store.transaction() as tx:
        assert len(await tx.artifacts.all()) == 1
    await first.register()  # registers again: provisioning finds the package already running
    await wait_for(lambda: running(service, first))
    assert len(await deliveries(service, "dev-a")) == 1


async def test_an_operator_assignment_beats_the_requested_task(
    service: MlaasService, devices: Devices
) -> None:
    async with service.server.store.transaction() as tx:
        await tx.devices.assign("endpoint", "dev-1", "sine-s")
    device = await devices("dev-1", "mps2-an505")
    await wait_for(lambda: running(service, device), timeout=90)
    assert service.provisioning.status["dev-1"].model == "sine-s"


async def test_a_device_no_class_can_hold_gets_a_reason(
    service: MlaasService, devices: Devices
) -> None:
    await devices("dev-1", "samd21", task="digits")
    await wait_for(
        lambda: (
            service.provisioning.status.get("dev-1") is not None
            and service.provisioning.status["dev-1"].stage == "failed"
        ),
        timeout=90,
    )
    reason = service.provisioning.status["dev-1"].reason
    assert reason is not None and "CONV_2D" in reason
    assert await deliveries(service, "dev-1") == []


async def test_a_device_running_the_native_runtime_gets_a_native_package(
    service: MlaasService, fleet_config: ServerConfig
) -> None:
    # a device of the Cortex-M3 class that reports the class's native runtime (as the firmware
    # stubs do); a simulated device cannot run the module, so it refuses the package (result 6)
    board = replace(BOARDS["mps2-an385"], runtimes=("tflm", "native-armv7m"))
    config = replace(DeviceConfig("dev-n", server=f"coap://127.0.0.1:{service.server.port}"),
                     board=board, trust_key=trust_key(fleet_config), task="sine")  # fmt: skip
    device = SimulatedDevice(config, service.server.model)
    await device.start()
    try:
        await wait_for(lambda: bool(service.provisioning.status.get("dev-n")) and
                       service.provisioning.status["dev-n"].artifact_id is not None,
                       timeout=90)  # fmt: skip
        status = service.provisioning.status["dev-n"]
        assert (status.device_class, status.backend) == ("mps2-an385", "native-armv7m")
        async with service.server.store.transaction() as tx:
            artifact = await tx.artifacts.get(str(status.artifact_id))
            assert await tx.devices.runtimes("dev-n") == ("tflm", "native-armv7m")
        assert artifact is not None and artifact.backend == "native-armv7m"
        await wait_for(lambda: device.tree.get("/5/0/5") == 6, timeout=30)
    finally:
        await device.stop()


async def test_a_device_asleep_when_read_is_provisioned_when_it_wakes(
    service: MlaasService, devices: Devices
) -> None:
    """A queue-mode device that sleeps before its ML Capability is read fails with that reason;
    its next Update wakes it and provisioning starts again."""
    service.server.sender.awake_time = 0.0  # the server counts the device asleep at once
    device = await devices("sleepy-1", queue_mode=True, awake_time=3.0, lifetime=6)

    def asleep() -> bool:
        status = service.provisioning.status.get("sleepy-1")
        return status is not None and status.stage == "failed" and "sleeps" in str(status.reason)

    await wait_for(asleep, timeout=30)
    service.server.sender.awake_time = 3.0  # from its next Update on, it listens
    await wait_for(lambda: running(service, device), timeout=90)
