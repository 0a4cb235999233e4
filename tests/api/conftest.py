"""A whole service with its REST API on a loopback port, and HTTP clients for it: `api` sends
the bearer token, `anonymous` sends none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from lwm2m_mlaas.fleet.app import MlaasService


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def http_base(service: MlaasService) -> str:
    assert service.api is not None
    return service.api.url


@pytest.fixture
async def api(service: MlaasService, http_base: str) -> AsyncIterator[Api]:
    assert service.api is not None
    headers = {"Authorization": f"Bearer {service.api.token}"}
    async with aiohttp.ClientSession(http_base, headers=headers) as session:
        yield Api(session, http_base)


@pytest.fixture
async def anonymous(http_base: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(http_base) as session:
        yield Api(session, http_base)


@dataclass
class EventStream:
    """An open GET /api/event: `next(name)` returns the data of the next event of that name."""

    response: aiohttp.ClientResponse
    seen: list[tuple[str, Any]] = field(default_factory=list)

    async def next(self, name: str, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            event = None
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise ConnectionError("the event stream ended")
                line = line.rstrip("\r\n")
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event is not None:
                    data = json.loads(line.removeprefix("data: "))
                    self.seen.append((event, data))
                    if event == name:
                        return data
                    event = None


@pytest.fixture
async def events(api: Api) -> AsyncIterator[Any]:
    """`async with events(ep=...) as stream:` opens GET /api/event."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def open_stream(**query: str) -> AsyncIterator[EventStream]:
        async with api.session.get("/api/event", params=query,
                                   headers={"Accept": "text/event-stream"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert await response.content.readline() == b": connected\n"
            yield EventStream(response)

    yield open_stream

