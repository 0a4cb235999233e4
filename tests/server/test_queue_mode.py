"""Queue mode: requests to a sleeping device wait in the database until it updates."""

from __future__ import annotations

import asyncio

from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.nodes import ResourceType, SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.core.requests import DownlinkRequest, Operation, Response
from lwm2m_mlaas.server import Event, EventKind, Lwm2mServer, Queued
from tests.helpers import wait_for
from tests.helpers.service import DeviceFactory


async def test_requests_to_a_sleeping_device_go_out_at_its_next_update(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    events: list[Event] = []
    with server.events.listening(events.append):
        sim = await device("sleepy", queue_mode=True, awake_time=1.0, lifetime=5)
        registration = await server.registration("sleepy")
        assert registration.queue_mode
        awake = await server.read("sleepy", "/3/0/0")
        assert isinstance(awake, Response) and awake.code is ResponseCode.CONTENT

        await wait_for(lambda: any(e.kind is EventKind.SLEEPING for e in events), timeout=5)
        queued = await server.read("sleepy", "/3/0/1")
        written = await server.write(
            "sleepy", "/32100/0/5", SingleResource(5, ResourceType.STRING, "digits")
        )
        assert isinstance(queued, Queued) and isinstance(written, Queued)
        async with server.store.transaction() as tx:
            pending = await tx.queue.pending("sleepy")
        assert [q.id for q in pending] == [queued.request_id, written.request_id]

        answer = await server.sender.wait(queued.request_id, timeout=10)
        assert answer is not None and answer.code is ResponseCode.CONTENT
        assert answer.node == SingleResource(1, ResourceType.STRING, "sim-nrf52840")
        await wait_for(lambda: sim.tree.get("/32100/0/5") == "digits")
    async with server.store.transaction() as tx:
        assert await tx.queue.pending("sleepy") == []
        done = await tx.queue.get(written.request_id)
    assert done is not None and done.status == "done"
    assert done.response_code == int(ResponseCode.CHANGED)
    kinds = [e.kind for e in events if e.kind in (EventKind.AWAKE, EventKind.SLEEPING)]
    assert kinds[:2] == [EventKind.SLEEPING, EventKind.AWAKE]


async def test_a_sleeping_device_really_drops_what_it_is_sent(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    sim = await device("sleepy", queue_mode=True, awake_time=0.3, lifetime=60)
    await asyncio.sleep(0.5)
    assert not sim.awake
    registration = await server.registration("sleepy")
    direct = await server.coap.send(registration, server_read("/3/0/0"), timeout=0.5)
    assert direct.timed_out


def server_read(path: str) -> DownlinkRequest:
    return DownlinkRequest(Operation.READ, Lwm2mPath.parse(path))
