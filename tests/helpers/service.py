"""The server and the whole service as the tests drive them: the REST API client type, the
signing key devices are given, provisioning state, rollouts, notifications and the operator CLI
run in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from click.testing import CliRunner, Result

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.cli.main import cli
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.delivery import Delivery
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    ObjectInstance,
    ResourceInstance,
    SingleResource,
)
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Event, EventKind, Queued
from lwm2m_mlaas.sim import SimulatedDevice
from tests.helpers import wait_for

N = TypeVar("N", Lwm2mObject, ObjectInstance, SingleResource, MultiResource, ResourceInstance)

DeviceFactory = Callable[..., Awaitable[SimulatedDevice]]
"""The `device` fixture: `await device("ep", lifetime=..)`, registered with `server`."""
Devices = Callable[..., Awaitable[SimulatedDevice]]
"""The `devices` fixture: `await devices("ep", board, **options)`, started against `service`."""


@dataclass
class Api:
    """An HTTP session on the service's REST API (the `api` and `anonymous` fixtures)."""

    session: aiohttp.ClientSession
    base: str

    def url(self, path: str) -> str:
        return self.base + path


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


def answered(result: Response | Queued) -> Response:
    """The device's answer: the request was not queued (the device is not in queue mode)."""
    assert isinstance(result, Response), result
    return result


def node_as(kind: type[N], response: Response) -> N:
    """The response's node, which must be a `kind` (ObjectInstance, SingleResource, ...)."""
    node = response.node
    assert isinstance(node, kind), response
    return node


def trust_key(config: ServerConfig) -> bytes:
    """The service's package signing public key (PEM), which simulated devices trust."""
    return (Layout(config.data_dir).keys / PUBLIC_KEY_FILE).read_bytes()


async def deliveries(service: MlaasService, endpoint: str) -> list[Delivery]:
    async with service.server.store.transaction() as tx:
        return await tx.deliveries.all(endpoint)


def running(service: MlaasService, device: SimulatedDevice | str) -> bool:
    """Whether the service reports the device (or endpoint) running its model."""
    endpoint = device if isinstance(device, str) else device.config.endpoint
    status = service.provisioning.status.get(endpoint)
    return status is not None and status.stage == "running"


async def provisioned(devices: Devices, service: MlaasService, *names: str,
                      **options: Any) -> list[SimulatedDevice]:  # fmt: skip
    """Devices of class mps2-an386 asking for the sine task, once every one runs its model."""
    started = [await devices(name, "mps2-an386", task="sine", **options) for name in names]
    await wait_for(lambda: all(running(service, d) for d in started), timeout=120)
    return started


async def call(api: Api, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """A REST request with a JSON body; it must answer `status`; its JSON answer."""
    async with api.session.request(method, path, json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def until_state(api: Api, rollout_id: int, *states: str, timeout: float = 120) -> Any:
    """Until the rollout is in one of `states`; the rollout as GET returned it last."""
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update(await call(api, "GET", f"/api/mlaas/rollouts/{rollout_id}"))
        return found["state"] in states

    await wait_for(reached, timeout=timeout, interval=0.2)
    return found


def notifications(events: list[Event], path: str) -> list[object]:
    """The values notified for `path`, in order."""
    return [getattr(e.data["response"].node, "value", None) for e in events
            if e.kind is EventKind.NOTIFICATION and str(e.data["path"]) == path]  # fmt: skip


async def run_cli(service: MlaasService, *args: str, ok: bool | None = True) -> Result:
    """`mlaas --server <the service's API> --token <its token> ARGS`, in-process in a thread.
    ok=True: it must exit 0; ok=False: it must not; None: either."""
    assert service.api is not None
    base = ["--server", service.api.url, "--token", service.api.token]
    result = await asyncio.to_thread(CliRunner().invoke, cli, [*base, *args])
    if ok is not None:
        assert (result.exit_code == 0) == ok, (result.output, result.exception)
    return result


def one_line(result: Result) -> str:
    """The output, which must be one line (operator errors are)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]
