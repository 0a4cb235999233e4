"""Observe, notifications, write-attributes pmin/pmax, passive and active cancel (RFC 7641)."""

from __future__ import annotations

from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.server import Event, Lwm2mServer
from tests.helpers import wait_for
from tests.helpers.service import DeviceFactory, notifications


async def test_observe_delivers_notifications_on_change(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    sim = await device("dev-1")
    events: list[Event] = []
    with server.events.listening(events.append):
        first = await server.observe("dev-1", "/32101/0/2")
        assert first.code is ResponseCode.CONTENT
        for count in (1, 2, 3):
            sim.tree.set("/32101/0/2", count)
            await wait_for(lambda c=count: c in notifications(events, "/32101/0/2"))
    assert notifications(events, "/32101/0/2") == [1, 2, 3]
    registration = await server.registration("dev-1")
    assert server.observations.active(registration.id) == [Lwm2mPath.parse("/32101/0/2")]
    async with server.store.transaction() as tx:
        stored = await tx.observations.all(registration.id)
    assert [str(o.path) for o in stored] == ["/32101/0/2"] and stored[0].token


async def test_pmax_makes_the_device_notify_without_change(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    await device("dev-1")
    events: list[Event] = []
    with server.events.listening(events.append):
        await server.write_attributes("dev-1", "/32101/0/2", {"pmax": "1"})
        await server.observe("dev-1", "/32101/0/2")
        await wait_for(lambda: len(notifications(events, "/32101/0/2")) >= 2, timeout=5)
    assert set(notifications(events, "/32101/0/2")) == {0}


async def test_passive_cancel_stops_notifications(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    sim = await device("dev-1")
    events: list[Event] = []
    with server.events.listening(events.append):
        await server.observe("dev-1", "/32101/0/2")
        sim.tree.set("/32101/0/2", 1)
        await wait_for(lambda: notifications(events, "/32101/0/2") == [1])
        cancelled = await server.cancel_observation("dev-1", "/32101/0/2")
        assert cancelled.code is ResponseCode.DELETED
        sim.tree.set("/32101/0/2", 2)  # answered with a reset; the device drops its observer
        await wait_for(lambda: not sim._listeners)
    assert notifications(events, "/32101/0/2") == [1]
    registration = await server.registration("dev-1")
    async with server.store.transaction() as tx:
        assert await tx.observations.all(registration.id) == []


async def test_active_cancel_sends_observe_1_on_the_same_token(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    sim = await device("dev-1")
    await server.observe("dev-1", "/3/0/9")
    assert sim._listeners
    cancelled = await server.cancel_observation("dev-1", "/3/0/9", active=True)
    assert cancelled.code is ResponseCode.CONTENT
    await wait_for(lambda: not sim._listeners)
    missing = await server.cancel_observation("dev-1", "/3/0/9")
    assert missing.code is ResponseCode.NOT_FOUND


async def test_deregistration_drops_observations(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    sim = await device("dev-1")
    await server.observe("dev-1", "/3/0/9")
    registration = await server.registration("dev-1")
    await sim.stop()
    await wait_for(lambda: not server.observations.active(registration.id))
    async with server.store.transaction() as tx:
        assert await tx.observations.all() == []


async def test_expiry_drops_observations(server: Lwm2mServer, device: DeviceFactory) -> None:
    sim = await device("dev-1", lifetime=1)
    await server.observe("dev-1", "/3/0/9")
    registration = await server.registration("dev-1")
    await sim.stop(deregister=False)  # goes silent: no update, no de-register
    await wait_for(lambda: server.registrations.by_endpoint("dev-1") is None, timeout=6)
    await wait_for(lambda: not server.observations.active(registration.id))
    async with server.store.transaction() as tx:
        assert await tx.observations.all() == []
        assert await tx.registrations.get(registration.id) is None
