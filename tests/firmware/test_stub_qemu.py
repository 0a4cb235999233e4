"""The firmware stub on the four QEMU boards against the whole service: each board registers
over the emulated LAN9118, is read and classified into its own class, and is provisioned with
the sine model compiled by the native backend for its core, by push (an386, an505) or pull
(an385, an500), signature and SHA-256 checked on the device; the module's golden vectors are
reproduced on the emulated core before the device reports success, then it infers, reporting
its latency at the class's clock from the instructions the emulated core ran. A package damaged
in flight is refused with result 5 and delivered again whole."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.package import verify_package
from lwm2m_mlaas.compiler.targets import load_catalogue
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.nodes import SingleResource
from lwm2m_mlaas.core.requests import Response
from tests.firmware.qemu import (
    BOARDS,
    HOST_IP,
    Boot,
    Qemu,
    build,
    cmdline,
    inference_instructions,
    run_modrun,
)
from tests.firmware.relay import CorruptingRelay
from tests.helpers import wait_for
from tests.helpers.service import deliveries, running, trust_key

pytestmark = [pytest.mark.qemu, pytest.mark.slow, pytest.mark.timeout(300)]

MODES = {"mps2-an385": "pull", "mps2-an386": "push", "mps2-an500": "pull", "mps2-an505": "push"}
RUNTIMES = {"mps2-an385": "native-armv7m", "mps2-an386": "native-armv7em-hardfp",
            "mps2-an500": "native-armv7em-hardfp", "mps2-an505": "native-armv8m-main-hardfp"}


@pytest.fixture
def fleet_config(fleet_config: ServerConfig) -> ServerConfig:
    """Pull URIs name the host as the guests see it (QEMU maps 192.0.2.2 to loopback)."""
    return replace(fleet_config, advertised_host=HOST_IP, delivery_timeout=20.0, max_attempts=5)


async def value(service: MlaasService, endpoint: str, path: str) -> object:
    response = await service.server.read(endpoint, path)
    assert isinstance(response, Response) and isinstance(response.node, SingleResource), response
    return response.node.value


def wait_line(board: Qemu, line: str) -> bool:
    assert board.running, f"{board.board} exited: {board.log()}"
    return line in board.log()


async def test_four_boards_are_classified_and_run_their_native_model_by_push_and_pull(
    service: MlaasService, fleet_config: ServerConfig, boot: Boot, tmp_path: Path
) -> None:
    port = service.server.port
    boards = {b: boot(b, build(b), cmdline(f"qemu-{b}", port, fleet_config)) for b in BOARDS}
    for board, qemu in boards.items():
        endpoint = f"qemu-{board}"
        await wait_for(lambda e=endpoint: running(service, e), timeout=240)
        status = service.provisioning.status[endpoint]
        assert (status.device_class, status.target, status.mode) == (board, "sine", MODES[board])
        (delivery,) = await deliveries(service, endpoint)
        assert (delivery.state, delivery.mode, delivery.result) == ("succeeded", MODES[board], 1)
        assert "fw result 1" in qemu.log() and "ml running" in qemu.log()
        assert status.artifact_id is not None
        package_ids = await service.deliveries.trust.package_ids(status.artifact_id)
        assert await value(service, endpoint, "/5/0/7") in package_ids
        passed = await value(service, endpoint, "/32101/0/8")
        assert isinstance(passed, int)
        assert passed == await value(service, endpoint, "/32101/0/9") and passed > 0
        assert await value(service, endpoint, "/32101/0/0") == status.model

        async def inferring(e: str = endpoint) -> bool:
            count = await value(service, e, "/32101/0/2")
            return isinstance(count, int) and count >= 2

        await wait_for(inferring, timeout=10)

        async def reported(e: str = endpoint, model: str | None = status.model) -> bool:
            """The board's own Sends (/dp, SenML CBOR) carry its model and its inferences."""
            sent = {str(p): v.node for p, v in (await service.server.sent.of(e)).items()}
            count, name = sent.get("/32101/0/2"), sent.get("/32101/0/0")
            return isinstance(count, SingleResource) and isinstance(count.value, int) \
                and count.value >= 2 and isinstance(name, SingleResource) \
                and name.value == model  # fmt: skip

        await wait_for(reported, timeout=10)
        composite = await service.server.read_composite(endpoint, ["/32101/0/0", "/3/0/17"])
        assert isinstance(composite, Response) and composite.nodes is not None, composite
        assert [getattr(n, "value", None) for n in composite.nodes.values()] == \
            [status.model, board]  # fmt: skip
    async with service.server.store.transaction() as tx:
        artifacts = {a.id: a for a in await tx.artifacts.all()}
    for board in BOARDS:
        artifact = artifacts[service.provisioning.status[f"qemu-{board}"].artifact_id or ""]
        assert artifact.backend == RUNTIMES[board]
        # the reported latency (/32101/0/5) is the module's instructions on the emulated core
        # at the class's clock: what modrun counts for the same image and golden inputs, over
        # the clock in MHz (the stub's own call and timestamps add a few instructions)
        manifest, image = verify_package(Path(artifact.path).read_bytes(), trust_key(fleet_config))
        inputs = np.array([np.frombuffer(g.input, np.int8) for g in manifest.golden])
        code, _, log = run_modrun(board, image, inputs, tmp_path / board)
        assert code == 0, log
        clock_mhz = load_catalogue()[board].clock_mhz
        expected = max(inference_instructions(log)) / clock_mhz
        latency = await value(service, f"qemu-{board}", "/32101/0/5")
        assert isinstance(latency, int) and latency > 0, latency
        assert abs(latency - expected) <= 1 + 0.05 * expected, (board, latency, expected)


async def test_a_package_damaged_in_flight_is_refused_with_result_5_then_delivered_whole(
    service: MlaasService, fleet_config: ServerConfig, boot: Boot, tmp_path: Path
) -> None:
    relay = CorruptingRelay(("127.0.0.1", service.server.port))
    relay_port = await relay.start()
    try:
        board = boot("mps2-an386", build("mps2-an386"),
                     cmdline("qemu-damaged", relay_port, fleet_config))  # fmt: skip
        await wait_for(lambda: wait_line(board, "fw result 5"), timeout=240)
        relay.corrupting = False
        await wait_for(lambda: running(service, "qemu-damaged"), timeout=120)
    finally:
        relay.close()
    assert relay.damaged >= 1
    (delivery,) = await deliveries(service, "qemu-damaged")
    assert delivery.state == "succeeded" and delivery.attempts >= 2
    assert "ml running" in board.log()
