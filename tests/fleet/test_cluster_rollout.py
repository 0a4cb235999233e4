"""Three `mlaas serve` nodes on one PostgreSQL are one service: 300 devices bootstrap onto
them, a rollout is driven from node A while most devices sit on B and C, and C is killed with
SIGKILL mid-rollout. Its devices bootstrap onto the live nodes and their deliveries resume:
every device ends registered on a live node running the rollout's model, with one install per
package (no delivery driven twice), and no registration lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from lwm2m_mlaas.api.auth import TOKEN_FILE
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.cluster import HashRing
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from lwm2m_mlaas.store import Store
from tests.helpers import wait_for
from tests.helpers.bootstrap import placing_config
from tests.helpers.net import free_tcp_port, free_udp_port
from tests.helpers.postgres import PostgresServer
from tests.helpers.processes import ServerProcess, until_http
from tests.helpers.service import trust_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEVICES = 300
LIFETIME = 20
SETTINGS = {"MLAAS_REQUEST_TIMEOUT": "5", "MLAAS_DELIVERY_TIMEOUT": "20",
            "MLAAS_RETRY_BACKOFF": "0.5", "MLAAS_LIFETIME_GRACE": "5",
            "MLAAS_NODE_HEARTBEAT": "0.5", "MLAAS_NODE_TIMEOUT": "3"}  # fmt: skip


class Node:
    def __init__(self, name: str, config: ServerConfig, url: str) -> None:
        self.name = name
        self.process = ServerProcess(config.data_dir / f"node-{name}.db", free_udp_port(), url)
        self.http_port = free_tcp_port()
        self.api = f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        self.process.start(MLAAS_NODE_ID=self.name, MLAAS_HTTP_PORT=str(self.http_port),
                           **SETTINGS)  # fmt: skip
        await until_http(self.api)


async def test_a_rollout_across_three_nodes_survives_a_killed_node(
        fleet_config: ServerConfig, postgres: PostgresServer) -> None:  # fmt: skip
    url = postgres.create_database()
    nodes = {name: Node(name, fleet_config, url) for name in "abc"}
    a = nodes["a"]
    endpoints = [f"c-{n}" for n in range(DEVICES)]
    ring = HashRing(nodes)
    assert Counter(ring.owner(e) for e in endpoints).keys() == {"a", "b", "c"}
    store = await Store.open(url)
    async with store.transaction() as tx:
        for endpoint in endpoints:
            await tx.bootstrap.put(endpoint, placing_config(LIFETIME))
    await store.close()
    key = trust_key(fleet_config)
    devices = [SimulatedDevice(replace(
        DeviceConfig(e, server=f"coap://127.0.0.1:{a.process.port}", bootstrap=True),
        board=BOARDS["mps2-an386"], task="sine", delivery="pull", trust_key=key,
        inference_interval=0, record_messages=False, server_timeout=4))
        for e in endpoints]  # fmt: skip
    try:
        for node in nodes.values():  # A first: it takes the rollouts lease
            await node.start()
        token = (fleet_config.data_dir / TOKEN_FILE).read_text().strip()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:

            async def get(path: str) -> Any:
                async with api.get(a.api + path) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            async def all_live() -> bool:
                return {n["id"] for n in await get("/api/mlaas/nodes")} == set(nodes)

            await wait_for(all_live, timeout=20, interval=0.2)
            starting = asyncio.Semaphore(20)

            async def start(device: SimulatedDevice) -> None:
                async with starting:
                    await device.start(register_timeout=60)

            await asyncio.gather(*(start(d) for d in devices))

            async def provisioned() -> bool:  # (any node lists the devices of every node)
                return len(await get("/api/mlaas/devices?stage=running")) == DEVICES

            await wait_for(provisioned, timeout=300, interval=1)
            first = Counter(d.tree.get("/5/0/6") for d in devices)
            assert len(first) == 1 and all(d.firmware.updates == 1 for d in devices)
            model = (await get("/api/mlaas/devices/c-0"))["provisioning"]["model"]
            target = next(v for v in ("sine-s", "sine-m", "sine-l") if v != model)
            body = {"target": target, "selector": {"endpoint": "c-*"}, "canary": 1,
                    "waves": [100], "max_concurrent": 30}  # fmt: skip
            async with api.post(a.api + "/api/mlaas/rollouts", json=body) as response:
                assert response.status == 201, await response.text()
                rollout_id = (await response.json())["id"]
            on_c = {e for e in endpoints if ring.owner(e) == "c"}

            async def mid_rollout() -> bool:
                done = await get(f"/api/mlaas/rollouts/{rollout_id}")
                flying = {m["endpoint"] for m in done["members"]
                          if m["state"] == "in_progress"}  # fmt: skip
                return done["counts"].get("succeeded", 0) >= 30 and bool(flying & on_c)

            await wait_for(mid_rollout, timeout=300, interval=0.1)
            nodes["c"].process.kill()

            async def finished() -> bool:
                return (await get(f"/api/mlaas/rollouts/{rollout_id}"))["state"] in (
                    "completed", "paused")

            await wait_for(finished, timeout=4 * LIFETIME + 240, interval=1)
            done = await get(f"/api/mlaas/rollouts/{rollout_id}")
        assert done["state"] == "completed", done["reason"]
        assert done["counts"] == {"succeeded": DEVICES}
        (artifact,) = {m["artifact"] for m in done["members"]}
        assert [d.config.endpoint for d in devices if d.tree.get("/5/0/7") != artifact] == []
        assert Counter(d.firmware.updates for d in devices) == {2: DEVICES}
        store = await Store.open(url)
        async with store.transaction() as tx:
            registered = await tx.registrations.nodes_of(endpoints)
            deliveries = await tx.deliveries.all()
        await store.close()
        assert Counter(registered.values()).keys() <= {"a", "b"}
        assert len(registered) == DEVICES
        assert {e for e in on_c if registered[e] in ("a", "b")} == on_c
        assert Counter(d.endpoint for d in deliveries) == dict.fromkeys(endpoints, 2)
    finally:
        await asyncio.gather(*(d.stop() for d in devices), return_exceptions=True)
        for node in nodes.values():
            node.process.stop()
