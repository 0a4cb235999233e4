"""A server killed with SIGKILL and restarted on the same database carries on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.server import Event, EventKind, Queued, build_server
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from lwm2m_mlaas.store import Store
from tests.helpers import wait_for
from tests.helpers.net import coap_request, free_udp_port
from tests.helpers.processes import ServerProcess, until_up


@pytest.fixture(params=["sqlite", "postgresql"])
def server_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """`mlaas serve` on a SQLite file, and on a database of a PostgreSQL server."""
    url = request.getfixturevalue("postgres").create_database() \
        if request.param == "postgresql" else None  # fmt: skip
    process = ServerProcess(tmp_path / "fleet.db", free_udp_port(), url)
    yield process
    process.stop()


async def test_sigkill_and_restart_keeps_registrations_and_lifetimes(
    server_process: ServerProcess, client: aiocoap.Context
) -> None:
    port = server_process.port
    server_process.start()
    await until_up(client, port)
    stays = await coap_request(client, port, Code.POST, "/rd", "ep=stays&lt=300", "</3/0>")
    brief = await coap_request(client, port, Code.POST, "/rd", "ep=brief&lt=3", "</3/0>")
    assert stays.code == brief.code == Code.CREATED
    device = SimulatedDevice(DeviceConfig("sim-dev", server=f"coap://127.0.0.1:{port}", lifetime=8))
    await device.start()
    location = device.location
    await device.send(["/3/0/0", "/3/0/11"])
    await asyncio.sleep(1.0)  # (stored within FLUSH_DELAY)

    server_process.kill()
    await asyncio.sleep(1.0)
    server_process.start()
    await until_up(client, port)

    stays_location = "/" + "/".join(stays.opt.location_path)
    assert (await coap_request(client, port, Code.POST, stays_location)).code == Code.CHANGED
    # the simulated device's own next update (every 2 s) is answered 2.04; a 4.04 would
    # have made it register again under a new location
    await asyncio.sleep(3.0)
    assert device.location == location
    # the short lifetime kept running across the restart: it expires
    brief_location = "/" + "/".join(brief.opt.location_path)

    async def brief_gone() -> bool:
        answer = await coap_request(client, port, Code.POST, brief_location)
        return bool(answer.code == Code.NOT_FOUND)

    await wait_for(brief_gone, timeout=10, interval=0.5)
    await device.stop()
    server_process.kill()

    store = await Store.open(server_process.url)
    try:
        async with store.transaction() as tx:
            endpoints = [r.endpoint for r in await tx.registrations.all()]
            sent = await tx.sent.of("sim-dev")
    finally:
        await store.close()
    assert endpoints == ["stays"]
    assert sorted(str(v.path) for v in sent) == ["/3/0/0", "/3/0/11/0"]


async def test_restart_restores_observations_and_flushes_queued_requests(tmp_path: Path) -> None:
    config = ServerConfig(
        coap_host="127.0.0.1",
        coap_port=free_udp_port(),
        data_dir=tmp_path,
        request_timeout=3.0,
        queue_awake_time=0.5,
        lifetime_grace=1.0,
    )
    server = build_server(config)
    await server.start()
    uri = f"coap://127.0.0.1:{config.coap_port}"
    watched = SimulatedDevice(DeviceConfig("watched", server=uri, lifetime=60), server.model)
    sleepy = SimulatedDevice(
        DeviceConfig("sleepy", server=uri, lifetime=4, queue_mode=True, awake_time=0.5),
        server.model,
    )
    await watched.start()
    await sleepy.start()
    try:
        assert (await server.observe("watched", "/32101/0/2")).code is ResponseCode.CONTENT
        await asyncio.sleep(0.8)
        queued = await server.read("sleepy", "/3/0/17")
        assert isinstance(queued, Queued)
        await server.stop()  # the database keeps the observation and the queued request

        server = build_server(config)
        await server.start()
        events: list[Event] = []
        with server.events.listening(events.append):
            registration = await server.registration("watched")
            await wait_for(lambda: server.observations.active(registration.id) != [])
            watched.tree.set("/32101/0/2", 7)
            await wait_for(
                lambda: any(
                    e.kind is EventKind.NOTIFICATION and e.data["response"].node.value == 7
                    for e in events
                )
            )
            answer = await server.sender.wait(queued.request_id, timeout=10)
        assert answer is not None and answer.code is ResponseCode.CONTENT
        assert answer.payload == b"nrf52840"
    finally:
        await watched.stop()
        await sleepy.stop()
        await server.stop()
