"""The OMA ETS LwM2M 1.1 cases the C firmware stub has the features for, on a QEMU board,
driven over REST with no token (interop mode) as tests/api/test_ets.py drives the simulated
device: int-101 (Register), int-229, 280 and 281 (Read-Composite in SenML CBOR, an absent and
an executable path left out) and int-306 (Send of the results of the model it was given)."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from tests.firmware.qemu import HOST_IP, Boot, build, cmdline
from tests.helpers import wait_for
from tests.helpers.service import running
from tests.helpers.zephyr import call, next_event, stream

pytestmark = [pytest.mark.qemu, pytest.mark.slow, pytest.mark.timeout(300)]

BOARD = "mps2-an386"
ENDPOINT = "client_qemu"


@pytest.fixture
def fleet_config(fleet_config: ServerConfig) -> ServerConfig:
    return replace(fleet_config, advertised_host=HOST_IP, leshan_open=True)


async def test_int_101_229_280_281_306_on_the_stub(
    service: MlaasService, fleet_config: ServerConfig, boot: Boot
) -> None:
    boot(BOARD, build(BOARD), cmdline(ENDPOINT, service.server.port, fleet_config))
    await wait_for(lambda: service.server.registrations.by_endpoint(ENDPOINT) is not None, 120)
    assert service.api is not None
    async with aiohttp.ClientSession(service.api.url) as rest:
        registration = await call(rest, "GET", f"/clients/{ENDPOINT}")  # int-101
        assert registration["endpoint"] == ENDPOINT and registration["secure"] is False
        read = await call(rest, "GET", f"/clients/{ENDPOINT}/composite",
                          paths="/3/0/17,/32101/0/2,/99/0,/1/0/4")  # fmt: skip
        assert read["status"] == "CONTENT(205)"
        assert set(read["content"]) == {"/3/0/17", "/32101/0/2"}  # (absent, executable: out)
        assert read["content"]["/3/0/17"]["value"] == BOARD
        # int-306: once it runs its model, the stub sends its results each second they move
        await wait_for(lambda: running(service, ENDPOINT), timeout=240)
        async with stream(rest, ENDPOINT) as events:
            sent = await next_event(events, "SEND")
    assert sent["ep"] == ENDPOINT
    assert {"/32101/0/0", "/32101/0/2"} <= set(sent["val"])
