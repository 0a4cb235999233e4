"""`mlaas serve` as a separate process: the REST API listens beside CoAP, answers with the
token from the data dir, and the process stops cleanly on SIGTERM with a stream open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from lwm2m_mlaas.api.auth import TOKEN_FILE
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from tests.helpers.net import free_tcp_port, free_udp_port
from tests.helpers.processes import ServerProcess, until_http


async def test_serve_runs_the_rest_api(tmp_path: Path) -> None:
    http_port = free_tcp_port()
    server = ServerProcess(tmp_path / "mlaas.db", free_udp_port())
    server.start(MLAAS_HTTP_PORT=str(http_port))
    url = f"http://127.0.0.1:{http_port}"
    device = SimulatedDevice(DeviceConfig("cli-1", server=f"coap://127.0.0.1:{server.port}",
                                          task=""))  # fmt: skip
    try:
        await until_http(url)
        token = (tmp_path / TOKEN_FILE).read_text().strip()
        await device.start()
        async with aiohttp.ClientSession(url) as session:
            async with asyncio.timeout(10):
                while not await (await session.get("/api/clients")).json():
                    await asyncio.sleep(0.1)
            async with session.get("/api/clients/cli-1/3/0/2") as response:
                assert (await response.json())["content"]["value"] == "SN-cli-1"
            async with session.get("/api/mlaas/fleet") as response:
                assert response.status == 401
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get("/api/mlaas/fleet", headers=headers) as response:
                assert (await response.json())["devices"] == 1
            async with session.get("/api/event") as stream:
                assert await stream.content.readline() == b": connected\n"
                assert server.process is not None
                server.process.terminate()  # SIGTERM with a stream open
                assert await asyncio.to_thread(server.process.wait, 15) == 0
    finally:
        await device.stop()
        server.stop()
