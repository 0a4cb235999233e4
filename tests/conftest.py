"""Shared fixtures: a real server on a loopback UDP port with a real SQLite file, and
simulated devices registered to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.server import Lwm2mServer, build_server
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice

DeviceFactory = Callable[..., Awaitable[SimulatedDevice]]


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        coap_host="127.0.0.1",
        coap_port=0,
        data_dir=tmp_path,
        lifetime_grace=1.0,
        expiry_interval=0.2,
        request_timeout=3.0,
        queue_awake_time=1.0,
    )


@pytest.fixture
async def server(server_config: ServerConfig) -> AsyncIterator[Lwm2mServer]:
    async with build_server(server_config) as running:
        yield running


@pytest.fixture
async def device(server: Lwm2mServer) -> AsyncIterator[DeviceFactory]:
    """Factory: `await device("ep", lifetime=..)` starts a registered simulated device."""
    started: list[SimulatedDevice] = []

    async def start(endpoint: str = "dev-1", **options: Any) -> SimulatedDevice:
        config = replace(
            DeviceConfig(endpoint, server=f"coap://127.0.0.1:{server.port}"), **options
        )
        sim = SimulatedDevice(config, server.model)
        await sim.start()
        started.append(sim)
        await wait_for(lambda: _registered(server, endpoint))
        return sim

    yield start
    for sim in started:
        await sim.stop()


def _registered(server: Lwm2mServer, endpoint: str) -> bool:
    return server.registrations.by_endpoint(endpoint) is not None


async def wait_for(
    condition: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0, interval: float = 0.05
) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)
