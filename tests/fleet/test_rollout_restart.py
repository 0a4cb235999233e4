"""`mlaas serve` killed with SIGKILL in the middle of a rollout wave and started again on the same
database: the rollout finishes with every device accounted for."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from lwm2m_mlaas.api.auth import TOKEN_FILE
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.net import free_tcp_port, free_udp_port
from tests.helpers.processes import ServerProcess, until_http
from tests.helpers.service import trust_key

pytestmark = pytest.mark.slow

SETTINGS = {"MLAAS_REQUEST_TIMEOUT": "3", "MLAAS_DELIVERY_TIMEOUT": "10",
            "MLAAS_RETRY_BACKOFF": "0.2", "MLAAS_LIFETIME_GRACE": "30"}  # fmt: skip


async def test_sigkill_mid_wave_then_the_rollout_finishes(fleet_config: ServerConfig) -> None:
    http_port = free_tcp_port()
    server = ServerProcess(fleet_config.data_dir / "mlaas.db", free_udp_port())
    settings = {**SETTINGS, "MLAAS_HTTP_PORT": str(http_port)}
    url = f"http://127.0.0.1:{http_port}"
    devices = [SimulatedDevice(replace(
        DeviceConfig(f"k-{n}", server=f"coap://127.0.0.1:{server.port}", lifetime=60),
        board=BOARDS["mps2-an386"], task="sine", delivery="push", block_size=64,
        trust_key=trust_key(fleet_config), inference_interval=0.5)) for n in range(8)]  # fmt: skip
    server.start(**settings)
    try:
        await until_http(url)
        token = (fleet_config.data_dir / TOKEN_FILE).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(url, headers=headers) as api:

            async def get(path: str) -> Any:
                async with api.get(path) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            for device in devices:
                await device.start()

            async def provisioned() -> bool:
                return len(await get("/api/mlaas/devices?stage=running")) == len(devices)

            await wait_for(provisioned, timeout=120, interval=0.5)
            model = (await get("/api/mlaas/devices/k-0"))["provisioning"]["model"]
            target = next(v for v in ("sine-s", "sine-m", "sine-l") if v != model)
            body = {"target": target, "selector": {"endpoint": "k-*"}, "canary": 1,
                    "waves": [50, 100], "max_concurrent": 2}  # fmt: skip
            async with api.post("/api/mlaas/rollouts", json=body) as response:
                assert response.status == 201
                rollout_id = (await response.json())["id"]

            async def mid_wave() -> bool:
                counts = (await get(f"/api/mlaas/rollouts/{rollout_id}"))["counts"]
                return bool(counts.get("succeeded", 0) >= 1 and counts.get("in_progress", 0) >= 1)

            await wait_for(mid_wave, timeout=120, interval=0.1)
        server.kill()
        await asyncio.sleep(1.0)
        server.start(**settings)
        await until_http(url)
        async with aiohttp.ClientSession(url, headers=headers) as api:

            async def finished() -> bool:
                async with api.get(f"/api/mlaas/rollouts/{rollout_id}") as response:
                    return (await response.json())["state"] in ("completed", "paused")

            await wait_for(finished, timeout=180, interval=0.5)
            async with api.get(f"/api/mlaas/rollouts/{rollout_id}") as response:
                done = await response.json()
        assert done["state"] == "completed", done
        assert done["counts"] == {"succeeded": len(devices)}
        assert {m["endpoint"] for m in done["members"]} == {d.config.endpoint for d in devices}
        (artifact,) = {m["artifact"] for m in done["members"]}
        assert all(d.tree.get("/5/0/7") == artifact for d in devices)
    finally:
        for device in devices:
            await device.stop()
        server.stop()
