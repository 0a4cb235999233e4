"""The npm lwm2m-node-lib client (another vendor's LwM2M 1.0 stack) against our server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.nodes import ResourceType, SingleResource
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers import wait_for

pytestmark = pytest.mark.interop

CLIENT = Path(__file__).parent / "node" / "client.js"


class NodeClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def next_event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.process.stdout.readline()
                assert line, f"client exited before {name!r}: {self.events}"
                event: dict[str, Any] = json.loads(line)
                self.events.append(event)
                if event.get("event") == name:
                    return event


async def test_registers_is_read_and_deregisters(server: Lwm2mServer) -> None:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENT),
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--endpoint",
        "node-lib-1",
        "--lifetime",
        "60",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = NodeClient(process)
    try:
        registered = await client.next_event("registered")
        registration = await server.registration("node-lib-1")
        assert registered["location"].endswith(registration.id)
        assert registration.lwm2m_version == "1.0"
        assert 3 in registration.available_instances

        response = await server.read("node-lib-1", "/3/0/0")
        assert isinstance(response, Response)
        assert response.code is ResponseCode.CONTENT
        assert response.node == SingleResource(0, ResourceType.STRING, "lwm2m-node-lib")
        read = await client.next_event("read")
        assert read == {"event": "read", "path": "/3/0/0", "value": "lwm2m-node-lib"}

        assert process.stdin is not None
        process.stdin.write(b"deregister\n")
        await process.stdin.drain()
        await client.next_event("deregistered")
        await wait_for(lambda: _gone(server))
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _gone(server: Lwm2mServer) -> bool:
    return server.registrations.by_endpoint("node-lib-1") is None
