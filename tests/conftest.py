"""Shared fixtures: a real server on a loopback UDP port with a real SQLite file, simulated
devices registered to it, a whole service (server, compiler, provisioning, REST API) with
simulated devices that trust its signing key, HTTP clients of its REST API (`api` sends the
bearer token, `anonymous` none, `events` opens /api/event), an aiocoap client (`client`) and a
package signing key (`signer`). Helpers that are not fixtures are in tests/helpers/."""

from __future__ import annotations

import multiprocessing
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiocoap
import aiohttp
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import Signer
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.server import Lwm2mServer, build_server
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.net import coap_client
from tests.helpers.postgres import PostgresServer
from tests.helpers.service import Api, DeviceFactory, Devices, EventStream, trust_key


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process, started on first use; `create_database()`
    gives each test its own database."""
    with PostgresServer.temporary() as running:
        yield running


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
        coaps_port=0,
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


@pytest.fixture(scope="session")
def trained_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zoo tasks these tests ask for, trained once per session (in a worker process, like
    the service does) and copied into each test's data dir."""
    root = tmp_path_factory.mktemp("zoo")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(_train, root, ("sine", "digits")).result()
    return root


def _train(root: Path, tasks: tuple[str, ...]) -> None:
    from lwm2m_mlaas.zoo import Zoo

    for task in tasks:
        Zoo(root).models(task)


@pytest.fixture
def fleet_config(tmp_path: Path, trained_zoo: Path) -> ServerConfig:
    shutil.copytree(trained_zoo, Layout(tmp_path).zoo)
    Signer(Layout(tmp_path).keys)  # the key devices are given before the service starts
    return ServerConfig(coap_host="127.0.0.1", coap_port=0, data_dir=tmp_path,
                        request_timeout=3.0, delivery_timeout=4.0, retry_backoff=0.2,
                        max_attempts=3, http_port=0, queue_awake_time=2.0,
                        coaps_port=0)  # fmt: skip


@pytest.fixture
async def service(fleet_config: ServerConfig) -> AsyncIterator[MlaasService]:
    async with MlaasService(fleet_config) as running:
        yield running


@pytest.fixture
async def devices(service: MlaasService, fleet_config: ServerConfig) -> AsyncIterator[Devices]:
    started: list[SimulatedDevice] = []

    async def start(endpoint: str, board: str = "mps2-an386", **options: Any) -> SimulatedDevice:
        settings = {"task": "sine", "inference_interval": 0.2, **options}
        config = replace(
            DeviceConfig(endpoint, server=f"coap://127.0.0.1:{service.server.port}"),
            board=BOARDS[board], trust_key=trust_key(fleet_config), **settings)  # fmt: skip
        device = SimulatedDevice(config, service.server.model)
        await device.start()
        started.append(device)
        return device

    yield start
    for device in started:
        await device.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiocoap.Context]:
    """An aiocoap client context over plain UDP."""
    async with coap_client() as context:
        yield context


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    """A package signing key, one per session (per xdist worker)."""
    return Signer(tmp_path_factory.mktemp("keys"))


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


@pytest.fixture
async def events(api: Api) -> AsyncIterator[Any]:
    """`async with events(ep=...) as stream:` opens GET /api/event."""
    @asynccontextmanager
    async def open_stream(**query: str) -> AsyncIterator[EventStream]:
        async with api.session.get("/api/event", params=query,
                                   headers={"Accept": "text/event-stream"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert await response.content.readline() == b": connected\n"
            yield EventStream(response)

    yield open_stream


# the hostile-input tests (tests/security/) report how many cases they generated; the summary
# is here so that the xdist controller, which loads only this conftest, prints it
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile(quota): the test must run at least `quota` generated cases")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    totals: Counter[str] = Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "teardown":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "hostile_cases":
                    totals.update(value)
    if totals:
        parts = ", ".join(f"{area} {count:,}" for area, count in totals.items())
        terminalreporter.write_sep("-", "hostile input")
        terminalreporter.write_line(
            f"hostile input: {sum(totals.values()):,} generated cases ({parts})")
