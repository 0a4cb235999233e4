"""The OMA ETS LwM2M 1.1 cases Zephyr's interop suite runs, driven the way its Leshan REST
client drives them: over real HTTP with no token (interop mode, `leshan_open`), against a
simulated device. Test names carry the ETS ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiocoap
import aiohttp
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.net import coap_client

ENDPOINT = "client_1a"
FORMATS = ("SENML_JSON", "SENML_CBOR")


@pytest.fixture
async def leshan(fleet_config: ServerConfig) -> AsyncIterator[MlaasService]:
    config = replace(fleet_config, leshan_open=True, provisioning=False)
    async with MlaasService(config) as running:
        yield running


@pytest.fixture
async def rest(leshan: MlaasService) -> AsyncIterator[aiohttp.ClientSession]:
    """What Zephyr's `Leshan` class holds: a session that sends no credentials."""
    assert leshan.api is not None
    async with aiohttp.ClientSession(leshan.api.url) as session:
        yield session


@pytest.fixture
async def endpoint(leshan: MlaasService) -> AsyncIterator[SimulatedDevice]:
    server = leshan.server
    device = SimulatedDevice(DeviceConfig(ENDPOINT, server=f"coap://127.0.0.1:{server.port}"),
                             server.model)  # fmt: skip
    await device.start()
    await wait_for(lambda: server.registrations.by_endpoint(ENDPOINT) is not None)
    yield device
    await device.stop()


async def call(rest: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               **params: str) -> Any:  # fmt: skip
    """As Zephyr's client does: any status outside 2xx is an error, an empty body is None."""
    async with rest.request(method, "/api" + path, params={"timeout": "10", **params},
                            json=body) as response:  # fmt: skip
        text = await response.text()
        assert 200 <= response.status < 300, f"{response.status}: {text}"
        return await response.json() if text else None


def values(node: dict[str, Any]) -> dict[int, Any]:
    """An instance node's resources as {id: value} (multiple resources as {id: {ri: value}})."""
    return {r["id"]: r.get("value", r.get("values")) for r in node["resources"]}


async def test_interop_mode_opens_leshan_routes_and_keeps_mlaas_ones_closed(
    rest: aiohttp.ClientSession,
) -> None:
    """Zephyr's client starts with GET /api/security/clients and adds PSKs, all unsigned."""
    assert await call(rest, "GET", "/security/clients") == []
    psk = {"endpoint": "client_2b", "tls": {"mode": "psk",
                                            "details": {"identity": "client_2b", "key": "0102"}}}
    await call(rest, "PUT", "/security/clients/", psk, format="SENML_CBOR")
    assert [c["endpoint"] for c in await call(rest, "GET", "/security/clients")] == ["client_2b"]
    await call(rest, "DELETE", "/security/clients/client_2b")
    async with rest.get("/api/mlaas/fleet") as response:
        assert response.status == 401


async def test_interop_mode_is_refused_beyond_loopback(fleet_config: ServerConfig) -> None:
    with pytest.raises(ValueError, match="bind the REST API to loopback"):
        MlaasService(replace(fleet_config, leshan_open=True, http_host="0.0.0.0"))


async def test_the_event_stream_takes_zephyrs_bare_endpoint_query(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice, leshan: MlaasService
) -> None:
    """GET /api/event?client_1a keeps that endpoint's events: another device's are left out."""
    server = leshan.server
    other = SimulatedDevice(DeviceConfig("client_3c", server=f"coap://127.0.0.1:{server.port}"),
                            server.model)  # fmt: skip
    async with rest.get(f"/api/event?{ENDPOINT}",
                        headers={"Accept": "text/event-stream"}) as response:  # fmt: skip
        assert response.status == 200
        await other.start()
        await endpoint.update()
        seen: list[str] = []
        while not seen or seen[-1] != "event: UPDATED":
            line = (await response.content.readline()).decode().strip()
            if line.startswith("event: "):
                seen.append(line)
            if line.startswith("data: "):
                assert f'"{ENDPOINT}"' in line and "client_3c" not in line
    await other.stop()
    assert seen == ["event: UPDATED"]


async def test_int_211_212_cbor_read_and_write(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Server object resources in CBOR (content format 60), one value each."""
    read = await call(rest, "GET", f"/clients/{ENDPOINT}/1/0/0", format="CBOR")
    assert read["status"] == "CONTENT(205)"
    # (integers are strings in Leshan's JSON; Zephyr's client reads them with int())
    assert read["content"] == {"id": 0, "kind": "singleResource", "type": "INTEGER", "value": "1"}
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/1/0/6", format="CBOR")
            )["content"]["value"] is False  # fmt: skip
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/1/0/7", format="CBOR")
            )["content"]["value"] == "U"  # fmt: skip
    for rid, type_, value in ((2, "integer", 5), (3, "integer", 10), (6, "boolean", True)):
        written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/{rid}",
                             {"id": rid, "kind": "singleResource", "value": value, "type": type_},
                             format="CBOR")  # fmt: skip
        assert written["status"] == "CHANGED(204)"
        assert endpoint.tree.get(f"/1/0/{rid}") == value
        back = await call(rest, "GET", f"/clients/{ENDPOINT}/1/0/{rid}", format="CBOR")
        assert back["content"]["value"] == (str(value) if type_ == "integer" else value)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_int_229_read_composite(rest: aiohttp.ClientSession, endpoint: SimulatedDevice,
                                      fmt: str) -> None:  # fmt: skip
    answer = await call(rest, "GET", f"/clients/{ENDPOINT}/composite", paths="/3,/1/0",
                        pathformat=fmt, nodeformat=fmt)  # fmt: skip
    assert answer["status"] == "CONTENT(205)"
    content = answer["content"]
    assert set(content) == {"/3", "/1/0"}
    assert content["/3"]["kind"] == "obj"
    assert values(content["/3"]["instances"][0])[0] == endpoint.tree.get("/3/0/0")
    assert int(values(content["/1/0"])[1]) == endpoint.lifetime
    pair = await call(rest, "GET", f"/clients/{ENDPOINT}/composite", paths="/1/0/1,/3/0/11/0",
                      pathformat=fmt, nodeformat=fmt)  # fmt: skip
    assert int(pair["content"]["/1/0/1"]["value"]) == endpoint.lifetime
    assert pair["content"]["/3/0/11/0"] == {"id": 0, "kind": "resourceInstance",
                                            "type": "INTEGER", "value": "0"}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
async def test_int_230_write_composite(rest: aiohttp.ClientSession, endpoint: SimulatedDevice,
                                       fmt: str) -> None:  # fmt: skip
    body = {"/1/0/2": {"id": 2, "kind": "singleResource", "value": 60, "type": "integer"},
            "/1/0/6": {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"}}
    # (Zephyr's case also writes the instances of /16/0/0: the Portfolio object is not here yet)
    answer = await call(rest, "PUT", f"/clients/{ENDPOINT}/composite", body,
                        pathformat=fmt, nodeformat=fmt)  # fmt: skip
    assert answer["status"] == "CHANGED(204)"
    assert endpoint.tree.get("/1/0/2") == 60 and endpoint.tree.get("/1/0/6") is True
    back = await call(rest, "GET", f"/clients/{ENDPOINT}/1/0", format=fmt)
    assert int(values(back["content"])[2]) == 60 and values(back["content"])[6] is True


async def test_a_composite_write_is_all_or_nothing(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """One read-only target (/3/0/0) and nothing is written: the device's 4.05 comes back."""
    body = {"/1/0/2": {"id": 2, "kind": "singleResource", "value": 77, "type": "integer"},
            "/3/0/0": {"id": 0, "kind": "singleResource", "value": "x", "type": "string"}}
    answer = await call(rest, "PUT", f"/clients/{ENDPOINT}/composite", body)
    assert answer["status"] == "METHOD_NOT_ALLOWED(405)" and answer["failure"]
    assert endpoint.tree.get("/1/0/2") == 0
    async with rest.put("/api/clients/client_1a/composite", json={"/1/0": {}}) as response:
        assert response.status == 400
        assert "resources or resource instances" in await response.text()


async def test_int_235_read_composite_of_the_root(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    answer = await call(rest, "GET", f"/clients/{ENDPOINT}/composite", paths="/")
    assert list(answer["content"]) == ["/"]
    root = answer["content"]["/"]
    assert root["kind"] == "root"
    ids = [o["id"] for o in root["objects"]]
    assert {1, 3, 5} <= set(ids) and 0 not in ids
    assert all(o["kind"] == "obj" for o in root["objects"])


async def test_int_236_read_composite_partial_presence(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Paths the device does not have are left out, not null."""
    answer = await call(rest, "GET", f"/clients/{ENDPOINT}/composite",
                        paths="/1/0,/3/0/11/0,/3339/0/5522,/3353/0/6030")  # fmt: skip
    assert answer["status"] == "CONTENT(205)"
    assert set(answer["content"]) == {"/1/0", "/3/0/11/0"}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_int_257_write_composite_with_time(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice, fmt: str
) -> None:
    body = {"/1/0/2": {"id": 2, "kind": "singleResource", "value": 102, "type": "integer"},
            "/1/0/6": {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"},
            "/3/0/13": {"id": 13, "kind": "singleResource", "value": 0, "type": "time"}}
    answer = await call(rest, "PUT", f"/clients/{ENDPOINT}/composite", body,
                        pathformat=fmt, nodeformat=fmt)  # fmt: skip
    assert answer["status"] == "CHANGED(204)"
    assert endpoint.tree.get("/1/0/2") == 102
    assert endpoint.tree.get("/3/0/13") == datetime.fromtimestamp(0, UTC)


async def test_int_280_281_read_composite_successful_and_partial(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """/1/0/8 is executable, not readable: left out of an answer that is still CONTENT."""
    full = await call(rest, "GET", f"/clients/{ENDPOINT}/composite",
                      paths="/3/0/16,/3/0/11/0,/1/0")  # fmt: skip
    assert set(full["content"]) == {"/3/0/16", "/3/0/11/0", "/1/0"}
    assert full["content"]["/3/0/16"]["value"] == "U"
    partial = await call(rest, "GET", f"/clients/{ENDPOINT}/composite",
                         paths="/1/0/1,/1/0/7,/1/0/8")  # fmt: skip
    assert partial["status"] == "CONTENT(205)"
    assert set(partial["content"]) == {"/1/0/1", "/1/0/7"}


async def next_event(response: aiohttp.ClientResponse, name: str) -> Any:
    """The data of the next event `name` on a stream, read as Zephyr's client reads it."""
    async with asyncio.timeout(10):
        while (await response.content.readline()).decode().strip() != f"event: {name}":
            pass
        line = (await response.content.readline()).decode().strip()
    assert line.startswith("data: {")
    return json.loads(line.removeprefix("data: "))


async def test_int_306_311_send(rest: aiohttp.ClientSession, endpoint: SimulatedDevice) -> None:
    """The device sends /1/0/1 and /3/0/11 unasked: a SEND event with one node per value,
    and the server keeps the last values."""
    async with rest.get(f"/api/event?{ENDPOINT}",
                        headers={"Accept": "text/event-stream"}) as response:  # fmt: skip
        await endpoint.send(["/1/0/1", "/3/0/11"])
        sent = await next_event(response, "SEND")
        assert sent == {"ep": ENDPOINT, "val": {
            "/1/0/1": {"id": 1, "kind": "singleResource", "type": "INTEGER",
                       "value": str(endpoint.lifetime)},
            "/3/0/11/0": {"id": 0, "kind": "resourceInstance", "type": "INTEGER", "value": "0"}}}
        await endpoint.send(["/1", "/3"])
        everything = (await next_event(response, "SEND"))["val"]
        assert "/1/0/7" in everything and everything["/3/0/0"]["value"] == \
            endpoint.tree.get("/3/0/0")  # fmt: skip
    kept = await call(rest, "GET", f"/clients/{ENDPOINT}/sent")
    assert int(kept["/1/0/1"]["node"]["value"]) == endpoint.lifetime
    assert {"/1/0/1", "/3/0/11/0", "/1/0/7", "/3/0/0"} <= set(kept)


async def test_a_send_from_a_stranger_or_in_the_wrong_format_is_refused(
    leshan: MlaasService, endpoint: SimulatedDevice
) -> None:
    async with coap_client() as stranger:
        uri = f"coap://127.0.0.1:{leshan.server.port}/dp"
        request = aiocoap.Message(code=Code.POST, uri=uri, payload=b"\x80",
                                  content_format=int(ContentFormat.SENML_CBOR))  # fmt: skip
        answer = await stranger.request(request).response
        assert answer.code == Code.NOT_FOUND and b"not registered" in answer.payload
    answer = await endpoint._request(Code.POST, "/dp", (), b"1", int(ContentFormat.TEXT))
    assert answer.code == Code.UNSUPPORTED_CONTENT_FORMAT
    answer = await endpoint._request(Code.POST, "/dp", (), b"\xff",
                                     int(ContentFormat.SENML_CBOR))  # fmt: skip
    assert answer.code == Code.BAD_REQUEST
    assert leshan.server.registrations.by_endpoint(ENDPOINT) is not None


async def test_int_304_305_observe_composite_and_cancel(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice, leshan: MlaasService
) -> None:
    """Observe-Composite of /1/0/1, /3/0/11/0 and /3/0/16: the first answer has both objects,
    a change notifies as one composite NOTIFICATION, and the active cancel (FETCH with
    Observe=1) ends it on the device too."""
    paths = "/1/0/1,/3/0/11/0,/3/0/16"
    async with rest.get(f"/api/event?{ENDPOINT}",
                        headers={"Accept": "text/event-stream"}) as response:  # fmt: skip
        answer = await call(rest, "POST", f"/clients/{ENDPOINT}/composite/observe", paths=paths)
        assert answer["status"] == "CONTENT(205)"
        assert set(answer["content"]) == {"/1/0/1", "/3/0/11/0", "/3/0/16"}
        endpoint.tree.set("/3/0/11", {0: 5})
        notification = await next_event(response, "NOTIFICATION")
    assert notification["kind"] == "composite" and notification["ep"] == ENDPOINT
    assert notification["paths"] == paths.split(",")
    assert int(notification["val"]["/3/0/11/0"]["value"]) == 5
    assert int(notification["val"]["/1/0/1"]["value"]) == endpoint.lifetime
    async with leshan.server.store.transaction() as tx:
        stored = await tx.observations.all()
    assert [tuple(map(str, s.paths)) for s in stored] == [tuple(paths.split(","))]
    observers = len(endpoint._listeners)
    cancelled = await call(rest, "DELETE", f"/clients/{ENDPOINT}/composite/observe",
                           paths=paths, active="")  # fmt: skip
    assert cancelled["status"] == "CONTENT(205)"
    await wait_for(lambda: len(endpoint._listeners) == observers - 1)
    async with leshan.server.store.transaction() as tx:
        assert await tx.observations.all() == []
    async with rest.delete(f"/api/clients/{ENDPOINT}/composite/observe",
                           params={"paths": paths, "active": ""}) as again:  # fmt: skip
        assert again.status == 404


async def test_int_308_309_observe_composite_sees_instances_come_and_go(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Observe-Composite of /3/0/11 and an instance that does not exist yet (/32101/1): the
    answer leaves it out; pmax brings notifications, first without it and then, created, with
    it."""
    await call(rest, "PUT", f"/clients/{ENDPOINT}/3/0/11/attributes", None, pmax="1")
    answer = await call(rest, "POST", f"/clients/{ENDPOINT}/composite/observe",
                        paths="/3/0/11,/32101/1")  # fmt: skip
    assert set(answer["content"]) == {"/3/0/11"}
    async with rest.get(f"/api/event?{ENDPOINT}",
                        headers={"Accept": "text/event-stream"}) as response:  # fmt: skip
        assert set((await next_event(response, "NOTIFICATION"))["val"]) == {"/3/0/11"}
        endpoint.tree.data[32101][1] = dict(endpoint.tree.data[32101][0])
        while set((await next_event(response, "NOTIFICATION"))["val"]) != {"/3/0/11",
                                                                          "/32101/1"}:
            pass
        del endpoint.tree.data[32101][1]
        while set((await next_event(response, "NOTIFICATION"))["val"]) != {"/3/0/11"}:
            pass
    await call(rest, "DELETE", f"/clients/{ENDPOINT}/composite/observe",
               paths="/3/0/11,/32101/1")  # fmt: skip
