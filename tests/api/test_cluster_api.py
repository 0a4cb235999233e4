"""Several nodes on one PostgreSQL database, one REST API: a request on any node for a device
registered on another is carried out by that node (real HTTP between the nodes, each with its
own token) and answered on the node asked; /api/clients and /api/event show the whole fleet."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.delivery import DeliveryMode
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.postgres import PostgresServer
from tests.helpers.service import Api, EventStream

FORWARDED = "X-Mlaas-Forwarded-By"


@dataclass
class Cluster:
    """Nodes of one service (each with its data dir and token), devices on them, and a REST
    client per node (sending that node's token)."""

    config: ServerConfig
    stack: AsyncExitStack
    nodes: dict[str, MlaasService] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)

    async def start(self, name: str) -> MlaasService:
        config = replace(self.config, node_id=name, data_dir=self.config.data_dir / name)
        service = await self.stack.enter_async_context(MlaasService(config))
        assert service.api is not None
        session = await self.stack.enter_async_context(aiohttp.ClientSession(
            service.api.url, headers={"Authorization": f"Bearer {service.api.token}"}))
        self.nodes[name], self.apis[name] = service, Api(session, service.api.url)
        await self.settled()
        return service

    async def stop(self, name: str) -> None:
        await self.nodes.pop(name).stop()
        await self.settled()

    async def settled(self) -> None:
        """Every node sees exactly the running ones live, with their REST API."""
        def seen(service: MlaasService) -> bool:
            live = service.server.membership.live
            return {n.id for n in live} == set(self.nodes) and all(n.api_url for n in live)

        await wait_for(lambda: all(seen(s) for s in self.nodes.values()), 5)

    async def device(self, endpoint: str, on: str) -> SimulatedDevice:
        """A simulated device registered straight on node `on` (and stored as its)."""
        server = self.nodes[on].server
        device = SimulatedDevice(DeviceConfig(endpoint, server=f"coap://127.0.0.1:{server.port}"),
                                 server.model)  # fmt: skip
        await device.start()
        self.stack.push_async_callback(device.stop)

        async def stored() -> bool:
            async with server.store.transaction() as tx:
                return (await tx.registrations.nodes_of([endpoint])).get(endpoint) == on

        await wait_for(stored, 5)
        return device


@pytest.fixture
async def cluster(server_config: ServerConfig,
                  postgres: PostgresServer) -> AsyncIterator[Cluster]:  # fmt: skip
    config = replace(server_config, db=postgres.create_database(), node_heartbeat=0.2,
                     node_timeout=2.0, http_port=0, provisioning=False,
                     open_reads=False)  # every route needs the node's own token  # fmt: skip
    async with AsyncExitStack() as stack:
        yield Cluster(config, stack)


async def answer(api: Api, method: str, path: str, **options: Any) -> tuple[int, str, str]:
    """Status, content type and body."""
    async with api.session.request(method, path, **options) as response:
        return response.status, response.content_type, await response.text()


async def json_of(api: Api, method: str, path: str, **options: Any) -> Any:
    async with api.session.request(method, path, **options) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_a_device_on_another_node_is_managed_from_any_node(cluster: Cluster) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    assert a.api is not None and b.api is not None and a.api.token != b.api.token
    device = await cluster.device("far-1", on="b")
    on_a, on_b = cluster.apis["a"], cluster.apis["b"]
    assert a.server.registrations.by_endpoint("far-1") is None  # a cannot reach it itself

    # reads, discover, composite, the registration, the mlaas device, and errors: asked on a,
    # answered by b, relayed as b answers (status, content type, body)
    asked = [("/api/clients/far-1", {}),
             ("/api/clients/far-1/3/0/2", {"format": "TLV", "timeout": "5"}),
             ("/api/clients/far-1/3/0/discover", {}),
             ("/api/clients/far-1/composite", {"paths": "/3/0/0,/3/0/2"}),
             ("/api/clients/far-1/3/0/99", {}),  # the device answers 4.04
             ("/api/clients/far-1/3/0/2", {"timeout": "soon"}),  # b answers 400
             ("/api/mlaas/devices/far-1", {})]  # fmt: skip
    for path, params in asked:
        relayed = await answer(on_a, "GET", path, params=params)
        assert relayed == await answer(on_b, "GET", path, params=params), path
    read = await json_of(on_a, "GET", "/api/clients/far-1/3/0/2", params={"format": "TLV"})
    assert read["content"] == {"id": 2, "kind": "singleResource", "type": "STRING",
                               "value": "SN-far-1"}  # fmt: skip
    status, content_type, text = await answer(on_a, "GET", "/api/clients/far-1/3/0/2",
                                              params={"timeout": "soon"})  # fmt: skip
    assert (status, content_type) == (400, "text/plain")
    assert text.startswith("Invalid request: timeout must be whole seconds")

    # writes: a Leshan JSON node and a text/plain value
    node = {"id": 14, "kind": "singleResource", "type": "STRING", "value": "+02:00"}
    written = await json_of(on_a, "PUT", "/api/clients/far-1/3/0/14", json=node,
                            params={"format": "SENML_CBOR"})  # fmt: skip
    assert written == {"status": "CHANGED(204)", "valid": True, "success": True,
                       "failure": False}  # fmt: skip
    written = await json_of(on_a, "PUT", "/api/clients/far-1/3/0/15", data="Europe/Oslo",
                            headers={"Content-Type": "text/plain"})  # fmt: skip
    assert written["status"] == "CHANGED(204)"
    assert (device.tree.get("/3/0/14"), device.tree.get("/3/0/15")) == ("+02:00", "Europe/Oslo")

    # write-attributes and execute (the registration update trigger: the device updates on b)
    attributes = await json_of(on_a, "PUT", "/api/clients/far-1/3/0/13/attributes",
                               params={"pmin": "1", "pmax": "5"})  # fmt: skip
    assert attributes["status"] == "CHANGED(204)"
    registered = b.server.registrations.by_endpoint("far-1")
    assert registered is not None
    executed = await json_of(on_a, "POST", "/api/clients/far-1/1/0/8")
    assert executed["status"] == "CHANGED(204)"

    def updated() -> bool:
        now = b.server.registrations.by_endpoint("far-1")
        return now is not None and now.last_update > registered.last_update

    await wait_for(updated, 5)


async def test_a_delivery_to_a_device_on_another_node_is_cancelled_there(
        cluster: Cluster) -> None:  # fmt: skip
    """Cancelling tells the device to drop the package (an empty /5/0/0): only its node can."""
    a = await cluster.start("a")
    await cluster.start("b")
    device = await cluster.device("far-1", on="b")
    on_a = cluster.apis["a"]
    package = {"id": 0, "kind": "singleResource", "type": "OPAQUE", "value": "00ff"}
    pushed = await json_of(on_a, "PUT", "/api/clients/far-1/5/0/0", json=package)
    assert pushed["status"] == "CHANGED(204)"
    assert device.tree.get("/5/0/3") == 2  # DOWNLOADED
    async with a.store.transaction() as tx:
        delivery = await tx.deliveries.add("far-1", "a1", "sine", "nrf52840", DeliveryMode.PUSH)
    cancelled = await json_of(on_a, "POST", f"/api/mlaas/deliveries/{delivery.id}/cancel")
    assert cancelled["state"] == "cancelled"
    assert device.tree.get("/5/0/3") == 0  # IDLE: b wrote the empty package


async def test_every_node_lists_the_whole_fleet(cluster: Cluster) -> None:
    await cluster.start("a")
    await cluster.start("b")
    await cluster.device("near-1", on="a")
    await cluster.device("far-1", on="b")
    on_a, on_b = cluster.apis["a"], cluster.apis["b"]
    listed_on_a = {c["endpoint"]: c for c in await json_of(on_a, "GET", "/api/clients")}
    listed_on_b = {c["endpoint"]: c for c in await json_of(on_b, "GET", "/api/clients")}
    assert listed_on_a == listed_on_b  # the same JSON whichever node holds the registration
    assert set(listed_on_a) == {"near-1", "far-1"}
    assert listed_on_a["far-1"] == await json_of(on_b, "GET", "/api/clients/far-1")
    assert listed_on_b["near-1"] == await json_of(on_a, "GET", "/api/clients/near-1")


async def test_the_event_stream_of_any_node_carries_the_whole_fleet(cluster: Cluster) -> None:
    await cluster.start("a")
    b = await cluster.start("b")
    on_a = cluster.apis["a"]
    alone = b.server.events.listener_count  # a node's own listeners, no event stream open
    async with on_a.session.get("/api/event") as response:
        assert await response.content.readline() == b": connected\n"
        stream = EventStream(response)
        await wait_for(lambda: b.server.events.listener_count == alone + 1, 5)  # a follows b

        await cluster.device("far-1", on="b")
        registered = await stream.next("REGISTRATION")
        on_b = b.server.registrations.by_endpoint("far-1")
        assert on_b is not None
        assert (registered["endpoint"], registered["registrationId"]) == ("far-1", on_b.id)
        observed = await json_of(on_a, "POST", "/api/clients/far-1/3/0/13/observe")
        assert observed["status"] == "CONTENT(205)"
        notification = await stream.next("NOTIFICATION")
        assert (notification["ep"], notification["res"]) == ("far-1", "/3/0/13")
        assert notification["val"]["id"] == 13 and notification["val"]["type"] == "TIME"

        # a node that joins is followed; when it leaves, the stream goes on
        c = await cluster.start("c")
        await wait_for(lambda: c.server.events.listener_count == alone + 1, 5)
        late = await cluster.device("mid-1", on="c")
        assert (await stream.next("REGISTRATION"))["endpoint"] == "mid-1"
        await late.stop()
        assert (await stream.next("DEREGISTRATION"))["endpoint"] == "mid-1"
        await cluster.stop("c")
        await json_of(on_a, "POST", "/api/clients/far-1/1/0/8")  # b's device updates
        assert (await stream.next("UPDATED"))["registration"]["endpoint"] == "far-1"
    assert [d["endpoint"] for e, d in stream.seen if e == "REGISTRATION"] == ["far-1", "mid-1"]


async def test_a_forwarded_request_is_answered_where_it_arrives(cluster: Cluster) -> None:
    await cluster.start("a")
    await cluster.start("b")
    await cluster.device("far-1", on="b")
    on_a = cluster.apis["a"]
    assert (await answer(on_a, "GET", "/api/clients/far-1/3/0/2"))[0] == 200
    for path in ("/api/clients/far-1/3/0/2", "/api/clients/far-1"):
        assert await answer(on_a, "GET", path, headers={FORWARDED: "b"}) == (
            400, "text/plain", "No registered client with id 'far-1'")  # fmt: skip


async def test_a_device_on_no_live_node_is_an_unknown_client(cluster: Cluster) -> None:
    a = await cluster.start("a")
    for name in "bc":
        await cluster.start(name)
    lost = await cluster.device("lost-1", on="c")
    await lost.stop(deregister=False)
    await cluster.stop("c")  # its registration stays stored, on a node that is gone
    async with a.store.transaction() as tx:
        assert await tx.registrations.nodes_of(["lost-1"]) == {"lost-1": "c"}
    on_a = cluster.apis["a"]
    unknown = "No registered client with id 'lost-1'"
    for path in ("/api/clients/lost-1", "/api/clients/lost-1/3/0", "/api/clients/lost-1/1/0/8"):
        assert await answer(on_a, "GET", path) == (400, "text/plain", unknown), path
    status, _, text = await answer(on_a, "GET", "/api/mlaas/devices/lost-1")
    assert (status, json.loads(text)) == (400, {"status": 400, "message": unknown})
    assert await json_of(on_a, "GET", "/api/clients") == []


async def test_the_fleet_routes_count_the_devices_of_every_node(cluster: Cluster) -> None:
    await cluster.start("a")
    await cluster.start("b")
    await cluster.device("near-1", on="a")
    for n in range(2):
        await cluster.device(f"far-{n}", on="b")
    for name in ("a", "b"):
        listed = await json_of(cluster.apis[name], "GET", "/api/mlaas/devices")
        assert [d["endpoint"] for d in listed] == ["far-0", "far-1", "near-1"]
        picked = await json_of(cluster.apis[name], "GET", "/api/mlaas/devices",
                               params={"endpoint": "far-*"})  # fmt: skip
        assert [d["endpoint"] for d in picked] == ["far-0", "far-1"]
        fleet = await json_of(cluster.apis[name], "GET", "/api/mlaas/fleet")
        assert fleet["devices"] == 3 and fleet["stages"] == {"unknown": 3}
    own = await json_of(cluster.apis["a"], "GET", "/api/mlaas/devices",
                        headers={FORWARDED: "b"})  # a node asked by another answers for its own
    assert [d["endpoint"] for d in own] == ["near-1"]
