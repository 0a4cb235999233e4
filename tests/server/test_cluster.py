"""Nodes on one PostgreSQL database are one service: each heart-beats, sees the others live,
and drops one that left or stopped beating; the REST API lists them; the bootstrap server
places each device on the node the hash ring picks."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import replace

import aiohttp
import asyncpg
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.bootstrap import BootstrapConfig
from lwm2m_mlaas.core.delivery import DeliveryMode
from lwm2m_mlaas.server import Event, EventKind, Lwm2mServer, build_server
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.bootstrap import placing_config
from tests.helpers.postgres import PostgresServer


@pytest.fixture
def cluster_config(server_config: ServerConfig, postgres: PostgresServer) -> ServerConfig:
    # (timeout 2 s: a loaded machine must not see a live node as dead)
    return replace(server_config, db=postgres.create_database(), node_heartbeat=0.2,
                   node_timeout=2.0)  # fmt: skip


def live(server: Lwm2mServer) -> set[str]:
    return {n.id for n in server.membership.live}


async def test_nodes_see_each_other_and_drop_the_dead(cluster_config: ServerConfig) -> None:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(build_server(replace(cluster_config, node_id="a")))
        b = await stack.enter_async_context(build_server(replace(cluster_config, node_id="b")))
        c = await stack.enter_async_context(build_server(replace(cluster_config, node_id="c")))
        await wait_for(lambda: live(a) == live(b) == live(c) == {"a", "b", "c"}, 5)
        assert {n.coap_uri for n in a.membership.live} == {
            f"coap://127.0.0.1:{s.port}" for s in (a, b, c)}
        endpoints = [f"dev-{n}" for n in range(300)]
        assert [a.membership.owner(e).id for e in endpoints] == \
            [c.membership.owner(e).id for e in endpoints]  # fmt: skip
        assert {a.membership.owner(e).id for e in endpoints} == {"a", "b", "c"}

        await b.membership.stop()  # left: gone at once
        await wait_for(lambda: live(a) == live(c) == {"a", "c"}, 2)
        await c.membership.stop(leave=False)  # silent, as after kill -9: gone after the timeout
        await wait_for(lambda: live(a) == {"a"}, 5)
        assert {a.membership.owner(e).id for e in endpoints} == {"a"}


async def test_the_rest_api_lists_the_live_nodes(cluster_config: ServerConfig) -> None:
    config = replace(cluster_config, http_port=0, provisioning=False)
    async with MlaasService(replace(config, node_id="one")) as one, \
            MlaasService(replace(config, node_id="two")) as two:  # fmt: skip
        await wait_for(lambda: live(one.server) == live(two.server) == {"one", "two"}, 5)
        assert one.api is not None and two.api is not None
        await wait_for(lambda: all(n.api_url for n in one.server.membership.live), 5)
        headers = {"Authorization": f"Bearer {one.api.token}"}
        async with aiohttp.ClientSession(headers=headers) as session, \
                session.get(one.api.url + "/api/mlaas/nodes") as response:  # fmt: skip
            assert response.status == 200
            nodes = {n["id"]: n for n in await response.json()}
        assert set(nodes) == {"one", "two"}
        assert nodes["one"]["self"] and not nodes["two"]["self"]
        assert nodes["two"]["apiUrl"] == two.api.url
        assert nodes["two"]["coapUri"] == f"coap://127.0.0.1:{two.server.port}"


async def test_bootstrap_places_each_device_on_its_node(cluster_config: ServerConfig) -> None:
    """An empty server uri in a bootstrap config stands for the node the endpoint belongs to:
    devices that bootstrap on one node register on the nodes the hash ring picks."""
    endpoints = [f"placed-{n}" for n in range(12)]
    config = placing_config(lifetime=60)
    async with AsyncExitStack() as stack:
        nodes = {name: await stack.enter_async_context(
            build_server(replace(cluster_config, node_id=name))) for name in "abc"}  # fmt: skip
        a = nodes["a"]
        await wait_for(lambda: live(a) == {"a", "b", "c"}, 5)
        async with a.store.transaction() as tx:
            for endpoint in endpoints:
                await tx.bootstrap.put(endpoint, config)
        for endpoint in endpoints:
            device = SimulatedDevice(DeviceConfig(endpoint, server=f"coap://127.0.0.1:{a.port}",
                                                  bootstrap=True), a.model)  # fmt: skip
            await device.start(register_timeout=10)
            stack.push_async_callback(device.stop)
            owner = nodes[a.membership.owner(endpoint).id]
            assert device.tree.data[0][1][0] == f"coap://127.0.0.1:{owner.port}"
            assert owner.registrations.by_endpoint(endpoint) is not None
            assert all(n.registrations.by_endpoint(endpoint) is None
                       for n in nodes.values() if n is not owner)  # fmt: skip
        assert {a.membership.owner(e).id for e in endpoints} == {"a", "b", "c"}


@pytest.mark.slow  # the devices notice the node is gone when their Update times out
async def test_devices_of_a_stopped_node_bootstrap_onto_live_ones(
        cluster_config: ServerConfig, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """The node the devices first bootstrapped at goes away: its devices' updates fail, they
    bootstrap again (LwM2M 1.1 client behaviour) at the bootstrap server it wrote them, their
    successor on the ring, and land there, on the live node the ring now picks."""
    endpoints = [f"moved-{n}" for n in range(12)]
    config = placing_config(lifetime=4)
    async with AsyncExitStack() as stack:
        nodes = {name: build_server(replace(cluster_config, node_id=name)) for name in "abc"}
        for name in "bc":
            await stack.enter_async_context(nodes[name])
        await nodes["a"].start()
        a, c = nodes["a"], nodes["c"]
        await wait_for(lambda: live(a) == live(c) == {"a", "b", "c"}, 5)
        async with a.store.transaction() as tx:
            for endpoint in endpoints:
                await tx.bootstrap.put(endpoint, config)
        devices = []
        for endpoint in endpoints:
            device = SimulatedDevice(DeviceConfig(endpoint, server=f"coap://127.0.0.1:{a.port}",
                                                  bootstrap=True), a.model)  # fmt: skip
            await device.start(register_timeout=10)
            stack.push_async_callback(device.stop)
            devices.append(device)
        for endpoint, device in zip(endpoints, devices, strict=True):
            successor = a.membership.successor(endpoint)
            assert successor is not None and successor.id != a.membership.owner(endpoint).id
            assert device.tree.data[0][0][0] == successor.coap_uri
        on_a = [e for e in endpoints if a.membership.owner(e).id == "a"]
        assert on_a
        await a.stop()  # (a node that fails to start stops itself)
        await wait_for(lambda: live(c) == {"b", "c"}, 5)

        def landed() -> bool:
            return all(nodes[c.membership.owner(e).id].registrations.by_endpoint(e) is not None
                       for e in on_a)  # fmt: skip

        await wait_for(landed, 90)
        for endpoint in on_a:
            owner = nodes[c.membership.owner(endpoint).id]
            device = devices[endpoints.index(endpoint)]
            assert device.tree.data[0][1][0] == f"coap://127.0.0.1:{owner.port}"

        async def replaced() -> bool:
            """The stopped node's registrations replaced in the database by the new owners'
            (a registration is in memory a moment before its write commits; the device's
            answer waits for that write)."""
            async with c.store.transaction() as tx:
                stored = {r.endpoint: r.id for r in await tx.registrations.all()}
            for endpoint in on_a:
                registration = nodes[c.membership.owner(endpoint).id].registrations.by_endpoint(
                    endpoint)  # fmt: skip
                assert registration is not None
                if stored.get(endpoint) != registration.id:
                    return False
            return True

        await wait_for(replaced, 10)
    assert "registration write failed" not in caplog.text


def knows(server: Lwm2mServer, identity: str) -> bool:
    try:
        server.credentials.find_dtls_psk(identity.encode())
    except KeyError:
        return False
    return True


async def test_credentials_made_on_one_node_reach_the_others(cluster_config: ServerConfig) -> None:
    """DTLS-PSK devices placed by bootstrap: the factory PSK put through node b, the DM PSK
    generated by the bootstrap server on node a, and the handshake on the device's own node all
    meet, through the database and its notifications."""
    factory = bytes(range(16))
    async with AsyncExitStack() as stack:
        nodes = {name: await stack.enter_async_context(
            build_server(replace(cluster_config, node_id=name))) for name in "abc"}  # fmt: skip
        a, b = nodes["a"], nodes["b"]
        await wait_for(lambda: live(a) == live(b) == {"a", "b", "c"}, 5)
        endpoints = [e for e in (f"psk-{n}" for n in range(12)) if a.membership.owner(e).id != "a"]
        for endpoint in endpoints[:4]:
            config = BootstrapConfig.from_json({
                "security": {"0": {"uri": "", "bootstrapServer": True, "securityMode": "PSK",
                                   "publicKeyOrId": list(f"{endpoint}-factory".encode()),
                                   "secretKey": list(factory)},
                             "1": {"uri": "", "securityMode": "PSK", "serverId": 3}},
                "servers": {"0": {"shortId": 3, "lifetime": 60}}})  # fmt: skip
            async with b.store.transaction() as tx:
                await tx.bootstrap.put(endpoint, config)
            b.credentials.put_bootstrap(endpoint, config.bootstrap_psk())
            b.credentials.changed(endpoint)  # (what PUT /api/bootstrap/{ep} does)
            await wait_for(lambda e=endpoint: knows(a, f"{e}-factory"), 5)
            device = SimulatedDevice(DeviceConfig(
                endpoint, server=f"coaps://127.0.0.1:{a.dtls_port}", bootstrap=True,
                psk_identity=f"{endpoint}-factory", psk_key=factory), a.model)  # fmt: skip
            await device.start(register_timeout=15)
            stack.push_async_callback(device.stop)
            owner = nodes[a.membership.owner(endpoint).id]
            assert device.tree.data[0][1][0] == f"coaps://127.0.0.1:{owner.dtls_port}"
            registration = owner.registrations.by_endpoint(endpoint)
            assert registration is not None and registration.secure
            generated = a.credentials.of(endpoint)
            assert generated is not None and owner.credentials.of(endpoint) == generated


async def test_a_device_moving_to_another_node_takes_its_observation_along(
        cluster_config: ServerConfig) -> None:  # fmt: skip
    """The device registers on a, is observed there, then registers on b: b replaces a's
    registration, takes the stored observation and observes anew; a forgets the device (told
    through the database) without a de-registration in the event stream."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(build_server(replace(cluster_config, node_id="a")))
        b = await stack.enter_async_context(build_server(replace(cluster_config, node_id="b")))
        await wait_for(lambda: live(a) == live(b) == {"a", "b"}, 5)
        seen: list[Event] = []
        stack.enter_context(a.events.listening(seen.append))
        on_b: list[Event] = []
        stack.enter_context(b.events.listening(on_b.append))
        first = SimulatedDevice(DeviceConfig("hop-1", server=f"coap://127.0.0.1:{a.port}"),
                                a.model)  # fmt: skip
        await first.start()
        assert (await a.observe("hop-1", "/3/0/13")).success
        await first.stop(deregister=False)  # (gone silently, as when its node died)
        moved = SimulatedDevice(DeviceConfig("hop-1", server=f"coap://127.0.0.1:{b.port}"),
                                b.model)  # fmt: skip
        await moved.start()
        stack.push_async_callback(moved.stop)
        await wait_for(lambda: a.registrations.by_endpoint("hop-1") is None, 5)
        registration = b.registrations.by_endpoint("hop-1")
        assert registration is not None
        gone = [e for e in seen if e.kind is EventKind.DEREGISTRATION]
        assert [(e.registration.endpoint, e.data) for e in gone] == [
            ("hop-1", {"replaced": True, "moved": "b"})]
        async with b.store.transaction() as tx:
            assert (await tx.registrations.nodes_of(["hop-1"])) == {"hop-1": "b"}
            observed = await tx.observations.all(registration.id)
        assert [str(o.path) for o in observed] == ["/3/0/13"]
        await wait_for(lambda: any(e.kind is EventKind.NOTIFICATION and str(e.data["path"]) ==
                                   "/3/0/13" for e in on_b), 5)  # b observes it anew  # fmt: skip


async def test_a_delivery_a_dead_node_left_resumes_where_its_device_registers(
        cluster_config: ServerConfig) -> None:  # fmt: skip
    """A node that dies mid-transfer leaves its delivery claimed and past pending, perhaps
    last written long before any other node read it: the node the device registers on next
    takes it from the database and drives it (an attempt is counted there)."""
    config = replace(cluster_config, provisioning=False, yield_max=0.1, http_port=-1)
    async with MlaasService(replace(config, node_id="a")) as a, \
            MlaasService(replace(config, node_id="b")):  # fmt: skip
        await wait_for(lambda: live(a.server) == {"a", "b"}, 5)
        async with a.server.store.transaction() as tx:
            row = await tx.deliveries.add("left-1", "a1", "sine", "nrf52840", DeliveryMode.PULL)
        database = await asyncpg.connect(config.db.replace("+asyncpg", ""))
        try:  # as the dead node "gone" wrote it, an hour ago
            await database.execute("UPDATE deliveries SET state = 'transferring', node = 'gone',"
                                   " updated = $1 WHERE id = $2", time.time() - 3600, row.id)
        finally:
            await database.close()
        await asyncio.sleep(2.5)  # (the nodes' readers of recent changes pass it by)
        device = SimulatedDevice(DeviceConfig("left-1", server=f"coap://127.0.0.1:"
                                              f"{a.server.port}", inference_interval=0),
                                 a.server.model)  # fmt: skip
        await device.start()
        try:
            async def attempted() -> bool:
                async with a.server.store.transaction() as tx:
                    (found,) = await tx.deliveries.all("left-1")
                return found.attempts >= 1

            await wait_for(attempted, timeout=15, interval=0.2)
        finally:
            await device.stop()
