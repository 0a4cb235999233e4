"""Zephyr's Leshan REST client, as its interop suite (the OMA ETS LwM2M 1.1 cases) drives a
server: no credentials, any status outside 2xx an error, events read line by line."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


async def call(rest: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               **params: str) -> Any:  # fmt: skip
    """As Zephyr's client does: any status outside 2xx is an error, an empty body is None."""
    async with rest.request(method, "/api" + path, params={"timeout": "10", **params},
                            json=body) as response:  # fmt: skip
        text = await response.text()
        assert 200 <= response.status < 300, f"{response.status}: {text}"
        return await response.json() if text else None


async def next_event(response: aiohttp.ClientResponse, name: str) -> Any:
    """The data of the next event `name` on a stream, read as Zephyr's client reads it."""
    async with asyncio.timeout(10):
        while (await response.content.readline()).decode().strip() != f"event: {name}":
            pass
        line = (await response.content.readline()).decode().strip()
    assert line.startswith("data: {")
    return json.loads(line.removeprefix("data: "))


def stream(rest: aiohttp.ClientSession, endpoint: str) -> Any:
    """One endpoint's event stream, opened as Zephyr's client opens it."""
    return rest.get(f"/api/event?{endpoint}", headers={"Accept": "text/event-stream"})
