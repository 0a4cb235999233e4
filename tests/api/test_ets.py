"""The OMA ETS LwM2M 1.1 cases Zephyr's interop suite runs, driven the way its Leshan REST
client drives them: over real HTTP with no token (interop mode, `leshan_open`), against a
simulated device. Test names carry the ETS ids."""

from __future__ import annotations

import asyncio
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
from lwm2m_mlaas.core.nodes import ObjectInstance, ResourceType, SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice
from lwm2m_mlaas.sim.accounts import dm_account
from tests.helpers import wait_for
from tests.helpers.bootstrap import bootstrap_result, placing_config
from tests.helpers.net import coap_client, coap_request, free_udp_port
from tests.helpers.zephyr import call, next_event, stream

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


async def create_portfolio(rest: aiohttp.ClientSession, identities: dict[int, str],
                           instance: int = 0) -> None:  # fmt: skip
    """Create /16/<instance> with its Identity resource, as Zephyr's suite does (C13)."""
    body = {"kind": "instance", "id": instance, "resources": [
        {"id": 0, "kind": "multiResource", "type": "string",
         "values": {str(k): v for k, v in identities.items()}}]}
    created = await call(rest, "POST", f"/clients/{ENDPOINT}/16", body)
    assert created["status"] == "CREATED(201)", created


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
    async with stream(rest, ENDPOINT) as response:
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
    await create_portfolio(rest, {0: "a", 1: "b", 2: "c", 3: "d"})
    body = {"/1/0/2": {"id": 2, "kind": "singleResource", "value": 60, "type": "integer"},
            "/1/0/6": {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"},
            "/16/0/0": {"id": 0, "kind": "multiResource", "type": "string",
                        "values": {"0": "aa", "1": "bb", "2": "cc", "3": "dd"}}}
    answer = await call(rest, "PUT", f"/clients/{ENDPOINT}/composite", body,
                        pathformat=fmt, nodeformat=fmt)  # fmt: skip
    assert answer["status"] == "CHANGED(204)"
    assert endpoint.tree.get("/1/0/2") == 60 and endpoint.tree.get("/1/0/6") is True
    assert endpoint.tree.get("/16/0/0") == {0: "aa", 1: "bb", 2: "cc", 3: "dd"}
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


async def test_int_306_311_send(rest: aiohttp.ClientSession, endpoint: SimulatedDevice) -> None:
    """The device sends /1/0/1 and /3/0/11 unasked: a SEND event with one node per value,
    and the server keeps the last values."""
    async with stream(rest, ENDPOINT) as response:
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
    async with stream(rest, ENDPOINT) as response:
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
    """Observe-Composite of /16/0 and /16/1, which does not exist yet: the answer leaves it
    out; Create brings it into the next notification (pmax), Delete takes it out again."""
    await create_portfolio(rest, {0: "a"})
    await call(rest, "PUT", f"/clients/{ENDPOINT}/16/0/attributes", None, pmax="1")
    answer = await call(rest, "POST", f"/clients/{ENDPOINT}/composite/observe",
                        paths="/16/0,/16/1")  # fmt: skip
    assert set(answer["content"]) == {"/16/0"}
    async with stream(rest, ENDPOINT) as response:
        assert set((await next_event(response, "NOTIFICATION"))["val"]) == {"/16/0"}
        await create_portfolio(rest, {0: "b"}, instance=1)
        while set((await next_event(response, "NOTIFICATION"))["val"]) != {"/16/0", "/16/1"}:
            pass
        deleted = await call(rest, "DELETE", f"/clients/{ENDPOINT}/16/1")
        assert deleted["status"] == "DELETED(202)"
        while set((await next_event(response, "NOTIFICATION"))["val"]) != {"/16/0"}:
            pass
    await call(rest, "DELETE", f"/clients/{ENDPOINT}/composite/observe", paths="/16/0,/16/1")


async def test_int_228_create_and_write_a_resource_instance_then_delete_it(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    await create_portfolio(rest, {0: "a", 1: "b"})
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/16/0/0/0",
                         {"id": 0, "kind": "resourceInstance", "value": "test",
                          "type": "string"})  # fmt: skip
    assert written["status"] == "CHANGED(204)"
    read = await call(rest, "GET", f"/clients/{ENDPOINT}/16/0/0/0")
    assert read["content"]["value"] == "test"
    deleted = await call(rest, "DELETE", f"/clients/{ENDPOINT}/16/0/0/1")
    assert deleted["status"] == "DELETED(202)"
    assert endpoint.tree.get("/16/0/0") == {0: "test"}
    gone = await call(rest, "DELETE", f"/clients/{ENDPOINT}/16/0/0/1")
    assert gone["status"] == "NOT_FOUND(404)"
    read_only = await call(rest, "DELETE", f"/clients/{ENDPOINT}/3/0/11/0")
    assert read_only["status"] == "METHOD_NOT_ALLOWED(405)"


async def test_int_307_muting_send(rest: aiohttp.ClientSession, endpoint: SimulatedDevice) -> None:
    """Mute Send (/1/0/23) written true: the device sends nothing; false: it sends again."""
    def mute(value: bool) -> dict[str, Any]:
        return {"id": 23, "kind": "singleResource", "value": value, "type": "boolean"}

    muted = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/23", mute(True))
    assert muted["status"] == "CHANGED(204)"
    with pytest.raises(RuntimeError, match="muted"):
        await endpoint.send(["/1/0/1"])
    assert await call(rest, "GET", f"/clients/{ENDPOINT}/sent") == {}
    await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/23", mute(False))
    await endpoint.send(["/1/0/1"])
    assert set(await call(rest, "GET", f"/clients/{ENDPOINT}/sent")) == {"/1/0/1"}


async def test_a_device_sends_its_inference_results_on_a_timer(leshan: MlaasService) -> None:
    server = leshan.server
    config = DeviceConfig("client_4d", server=f"coap://127.0.0.1:{server.port}",
                          send_interval=0.2)  # fmt: skip
    async def sent_all() -> bool:
        return len(await server.sent.of("client_4d")) >= 7

    async with SimulatedDevice(config, server.model):
        await wait_for(sent_all, 10)
    assert all(str(p).startswith("/32101/0/") for p in await server.sent.of("client_4d"))


# ---- registration interface (int-1xx) -------------------------------------------------------


async def test_int_101_initial_registration(rest: aiohttp.ClientSession,
                                            endpoint: SimulatedDevice) -> None:  # fmt: skip
    registration = await call(rest, "GET", f"/clients/{ENDPOINT}")
    assert registration["endpoint"] == ENDPOINT and registration["lifetime"] == endpoint.lifetime
    assert registration["secure"] is False and registration["lwM2mVersion"] == "1.1"


async def test_int_102_registration_update_after_a_lifetime_write(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """The device updates with the new lifetime; lastUpdate moves (epoch ms)."""
    before = await call(rest, "GET", f"/clients/{ENDPOINT}")
    lifetime = before["lifetime"] + 10
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/1",
                         {"id": 1, "kind": "singleResource", "value": lifetime,
                          "type": "integer"})  # fmt: skip
    assert written["status"] == "CHANGED(204)"

    async def updated() -> bool:
        after = await call(rest, "GET", f"/clients/{ENDPOINT}")
        return bool(after["lifetime"] == lifetime and after["lastUpdate"] > before["lastUpdate"])

    await wait_for(updated, 10)


async def test_int_104_registration_update_trigger(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    before = await call(rest, "GET", f"/clients/{ENDPOINT}")
    executed = await call(rest, "POST", f"/clients/{ENDPOINT}/1/0/8")
    assert executed["status"] == "CHANGED(204)"

    async def updated() -> bool:
        return bool((await call(rest, "GET", f"/clients/{ENDPOINT}"))["lastUpdate"]
                    > before["lastUpdate"])  # fmt: skip

    await wait_for(updated, 10)


async def test_int_108_queue_mode(leshan: MlaasService, rest: aiohttp.ClientSession) -> None:
    server = leshan.server
    config = DeviceConfig("client_5e", server=f"coap://127.0.0.1:{server.port}", queue_mode=True)
    async with SimulatedDevice(config, server.model):
        assert (await call(rest, "GET", "/clients/client_5e"))["queuemode"] is True


# ---- device management (int-2xx) ------------------------------------------------------------


async def test_int_201_203_204_reads_of_the_device_object(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """TEXT reads of /3/0/0..2; TLV and JSON (11543) reads of /3/0."""
    for rid in (0, 1, 2):
        read = await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/{rid}", format="TEXT")
        assert read["content"]["value"] == endpoint.tree.get(f"/3/0/{rid}")
    for fmt in ("TLV", "JSON"):
        instance = values((await call(rest, "GET", f"/clients/{ENDPOINT}/3/0",
                                      format=fmt))["content"])  # fmt: skip
        assert instance[0] == endpoint.tree.get("/3/0/0")
        assert instance[3] == endpoint.tree.get("/3/0/3")
        assert instance[11] == {"0": "0"} and instance[16] == "U"


async def test_int_205_215_220_writes_of_the_server_object(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """TEXT writes of /1/0/2, 3 and 5; a partial update of /1/0 in TLV and JSON; a replace."""
    for rid, value in ((2, 1), (3, 10), (5, 86400)):
        written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/{rid}",
                             {"id": rid, "kind": "singleResource", "value": str(value),
                              "type": "integer"}, format="TEXT")  # fmt: skip
        assert written["status"] == "CHANGED(204)" and endpoint.tree.get(f"/1/0/{rid}") == value
    for fmt in ("TLV", "JSON"):
        update = {"kind": "instance", "id": 0, "resources": [
            {"id": 2, "kind": "singleResource", "value": "101", "type": "integer"},
            {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"}]}
        updated = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0", update, format=fmt,
                             replace="false")  # fmt: skip
        assert updated["status"] == "CHANGED(204)"
        assert endpoint.tree.get("/1/0/2") == 101 and endpoint.tree.get("/1/0/6") is True
        assert endpoint.tree.get("/1/0/7") == "U"  # (a partial update keeps the rest)


async def test_int_221_the_security_object_is_refused(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """The device's own 4.01, as HTTP 200 with its status."""
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/0/0"))["status"] == \
        "UNAUTHORIZED(401)"  # fmt: skip
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/0/0/0",
                         {"id": 0, "kind": "singleResource", "value": "coap://x",
                          "type": "string"})  # fmt: skip
    assert written["status"] == "UNAUTHORIZED(401)"


async def test_int_222_to_225_reads_of_object_instance_resource_and_instance(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    obj = (await call(rest, "GET", f"/clients/{ENDPOINT}/1"))["content"]
    assert obj["kind"] == "obj" and [i["id"] for i in obj["instances"]] == [0]
    instance = values((await call(rest, "GET", f"/clients/{ENDPOINT}/3/0"))["content"])
    assert instance[0] == endpoint.tree.get("/3/0/0")
    resource = (await call(rest, "GET", f"/clients/{ENDPOINT}/1/0/6"))["content"]
    assert resource == {"id": 6, "kind": "singleResource", "type": "BOOLEAN", "value": False}
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/11/0"))["content"] == \
        {"id": 0, "kind": "resourceInstance", "type": "INTEGER", "value": "0"}  # fmt: skip


async def test_int_237_read_without_a_format(rest: aiohttp.ClientSession,
                                             endpoint: SimulatedDevice) -> None:  # fmt: skip
    """No Accept: the device picks, the server decodes by the answer's Content-Format."""
    for path in ("1", "3"):
        answer = await call(rest, "GET", f"/clients/{ENDPOINT}/{path}")
        assert answer["status"] == "CONTENT(205)" and answer["content"]["kind"] == "obj"


async def test_int_256_write_failure_is_the_devices_answer(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """/1/0/0 is read-only: the device's 4.05 comes back, the value stays."""
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/0",
                         {"id": 0, "kind": "singleResource", "value": 123,
                          "type": "integer"})  # fmt: skip
    assert written["status"] == "METHOD_NOT_ALLOWED(405)" and written["failure"]
    assert endpoint.tree.get("/1/0/0") == 1


async def discover(rest: aiohttp.ClientSession, path: str) -> dict[str, dict[str, str]]:
    answer = await call(rest, "GET", f"/clients/{ENDPOINT}/{path}/discover")
    return {link["url"]: link["attributes"] for link in answer["objectLinks"]}


async def write_attributes(rest: aiohttp.ClientSession, path: str, **attributes: str) -> None:
    """Write-Attributes; an empty value unsets the attribute (Leshan's `?pmin&pmax`)."""
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/{path}/attributes", None,
                         **attributes)  # fmt: skip
    assert written["status"] == "CHANGED(204)", written


async def test_int_260_discover_and_write_attributes(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    assert {"/3", "/3/0", "/3/0/0"} <= set(await discover(rest, "3"))
    await write_attributes(rest, "3", pmin="10", pmax="200")
    assert (await discover(rest, "3"))["/3"] == {"pmin": "10", "pmax": "200"}
    links = await discover(rest, "3/0")
    assert all(links[f"/3/0/{r}"]["dim"] == "2" for r in (6, 7, 8))
    await write_attributes(rest, "3/0/7", lt="1", gt="6", st="1")
    links = await discover(rest, "3/0/7")  # (the resource with what it inherits, its instances)
    assert links == {"/3/0/7": {"pmin": "10", "pmax": "200", "lt": "1", "gt": "6", "st": "1",
                                "dim": "2"}, "/3/0/7/0": {}, "/3/0/7/1": {}}
    await write_attributes(rest, "3", pmin="", pmax="")
    assert (await discover(rest, "3"))["/3"] == {}


async def test_int_261_write_attributes_on_a_multiple_resource(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Attributes on the object, the instance and a resource instance: Discover of the
    resource shows the ones it inherits and its instance's own."""
    assert await discover(rest, "3/0/11") == {"/3/0/11": {"dim": "1"}, "/3/0/11/0": {}}
    await write_attributes(rest, "3", pmin="10")
    await write_attributes(rest, "3/0", pmax="320")
    await write_attributes(rest, "3/0/11/0", pmax="100", epmin="1", epmax="20")
    assert await discover(rest, "3/0/11") == {
        "/3/0/11": {"pmin": "10", "pmax": "320", "dim": "1"},
        "/3/0/11/0": {"pmax": "100", "epmin": "1", "epmax": "20"}}
    for path, names in (("3", ("pmin",)), ("3/0", ("pmax",)),
                        ("3/0/11/0", ("pmax", "epmin", "epmax"))):  # fmt: skip
        await write_attributes(rest, path, **dict.fromkeys(names, ""))
    assert await discover(rest, "3/0/11") == {"/3/0/11": {"dim": "1"}, "/3/0/11/0": {}}


async def test_int_103_deregistration_on_disable(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Execute /1/0/4 (Disable): the device de-registers, for its Disable Timeout (/1/0/5)."""
    async with stream(rest, ENDPOINT) as response:
        executed = await call(rest, "POST", f"/clients/{ENDPOINT}/1/0/4")
        assert executed["status"] == "CHANGED(204)"
        assert (await next_event(response, "DEREGISTRATION"))["endpoint"] == ENDPOINT
    async with rest.get(f"/api/clients/{ENDPOINT}") as gone:
        assert gone.status == 400


# ---- bootstrap (0, 1, 4, 5) -----------------------------------------------------------------


async def test_bootstrap_0_1_4_5_client_and_server_initiated(
    leshan: MlaasService, rest: aiohttp.ClientSession
) -> None:
    """The configuration is put the way Zephyr's create_bs_device does (no token); the device
    bootstraps and registers (0, 1). A Server instance made on the device alone (/1/2) is gone
    after the server triggers a bootstrap with /1/0/9 (4, 5): the configuration deletes /0 and
    /1 first."""
    server = leshan.server
    await call(rest, "POST", "/bootstrap/client_6f", placing_config(30).to_json())
    config = DeviceConfig("client_6f", server=f"coap://127.0.0.1:{server.port}", bootstrap=True)
    async with SimulatedDevice(config, server.model) as device:
        first = await call(rest, "GET", "/clients/client_6f")
        device.tree.create(Lwm2mPath.of(1), ObjectInstance.of(
            2, SingleResource(0, ResourceType.INTEGER, 9),
            SingleResource(1, ResourceType.INTEGER, 60)))  # fmt: skip
        executed = await call(rest, "POST", "/clients/client_6f/1/0/9")
        assert executed["status"] == "CHANGED(204)"

        async def registered_again() -> bool:
            async with rest.get("/api/clients/client_6f") as answer:
                body = await answer.json() if answer.status == 200 else {}
            return bool(body.get("registrationId", first["registrationId"])
                        != first["registrationId"])  # fmt: skip

        await wait_for(registered_again, 15)
        assert 2 not in device.tree.data[1]


async def test_lwm2m_cbor_reads_and_writes(rest: aiohttp.ClientSession,
                                           endpoint: SimulatedDevice) -> None:  # fmt: skip
    """LwM2M CBOR (11544) end to end: the device encodes, the server decodes, and back."""
    instance = values((await call(rest, "GET", f"/clients/{ENDPOINT}/3/0",
                                  format="LWM2M_CBOR"))["content"])  # fmt: skip
    assert instance[0] == endpoint.tree.get("/3/0/0") and instance[11] == {"0": "0"}
    update = {"kind": "instance", "id": 0, "resources": [
        {"id": 2, "kind": "singleResource", "value": "7", "type": "integer"}]}
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0", update, format="LWM2M_CBOR",
                         replace="false")  # fmt: skip
    assert written["status"] == "CHANGED(204)" and endpoint.tree.get("/1/0/2") == 7


async def test_int_226_227_partial_update_and_a_lifetime_write(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    update = {"kind": "instance", "id": 0, "resources": [
        {"id": 1, "kind": "singleResource", "value": "60", "type": "integer"},
        {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"}]}
    changed = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0", update, replace="false")
    assert changed["status"] == "CHANGED(204)"
    assert endpoint.tree.get("/1/0/1") == 60 and endpoint.tree.get("/1/0/6") is True
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/1",
                         {"id": 1, "kind": "singleResource", "value": 63,
                          "type": "integer"})  # fmt: skip
    assert written["status"] == "CHANGED(204)"

    async def lifetime_63() -> bool:
        return bool((await call(rest, "GET", f"/clients/{ENDPOINT}"))["lifetime"] == 63)

    await wait_for(lifetime_63, 10)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_int_231_to_234_senml_reads_and_writes(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice, fmt: str
) -> None:
    server_object = (await call(rest, "GET", f"/clients/{ENDPOINT}/1", format=fmt))["content"]
    assert server_object["kind"] == "obj" and server_object["instances"][0]["id"] == 0
    assert values((await call(rest, "GET", f"/clients/{ENDPOINT}/3/0",
                              format=fmt))["content"])[16] == "U"  # fmt: skip
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/11/0",
                       format=fmt))["content"]["value"] == "0"  # fmt: skip
    update = {"kind": "instance", "id": 0, "resources": [
        {"id": 1, "kind": "singleResource", "value": "61", "type": "integer"},
        {"id": 6, "kind": "singleResource", "value": True, "type": "boolean"}]}
    changed = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0", update, format=fmt,
                         replace="false")  # fmt: skip
    assert changed["status"] == "CHANGED(204)" and endpoint.tree.get("/1/0/1") == 61
    await create_portfolio(rest, {0: "a"})
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/16/0/0/0",
                         {"id": 0, "kind": "resourceInstance", "value": "b",
                          "type": "string"}, format=fmt)  # fmt: skip
    assert written["status"] == "CHANGED(204)" and endpoint.tree.get("/16/0/0") == {0: "b"}


async def test_int_302_303_cancel_by_reset_and_by_observe_1(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Passive cancel: the device's next notification gets a reset and its observer goes;
    active cancel: a GET with Observe=1 ends it at once."""
    observers = len(endpoint._listeners)
    for path in ("3/0/9", "3/0/16"):
        observed = await call(rest, "POST", f"/clients/{ENDPOINT}/{path}/observe", "")
        assert observed["status"] == "CONTENT(205)"
    await wait_for(lambda: len(endpoint._listeners) == observers + 2)
    await call(rest, "DELETE", f"/clients/{ENDPOINT}/3/0/9/observe")
    endpoint.tree.set("/3/0/9", 42)  # (its notification is answered with a reset)
    await wait_for(lambda: len(endpoint._listeners) == observers + 1, 10)
    cancelled = await call(rest, "DELETE", f"/clients/{ENDPOINT}/3/0/16/observe", active="")
    assert cancelled["status"] == "CONTENT(205)"
    await wait_for(lambda: len(endpoint._listeners) == observers, 10)


async def test_int_105_a_deregister_from_another_address(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice, leshan: MlaasService
) -> None:
    """A De-register of a NoSec device's registration from another port is taken (the device
    may sit behind a NAT); the device's next Update gets 4.04 and it registers again."""
    first = await call(rest, "GET", f"/clients/{ENDPOINT}")
    async with coap_client() as client:
        answer = await coap_request(client, leshan.server.port, Code.DELETE,
                                    f"/rd/{first['registrationId']}")  # fmt: skip
    assert answer.code == Code.DELETED
    async with rest.get(f"/api/clients/{ENDPOINT}") as gone:
        assert gone.status == 400
    await endpoint.update()
    again = await call(rest, "GET", f"/clients/{ENDPOINT}")
    assert again["registrationId"] != first["registrationId"]
    assert endpoint.registrations_lost == 1


async def test_int_107_extend_lifetime(rest: aiohttp.ClientSession,
                                       endpoint: SimulatedDevice) -> None:  # fmt: skip
    """Lifetime 4 s written (the ETS writes 120 s): an Update carries it, and the device
    updates again before it runs out."""
    written = await call(rest, "PUT", f"/clients/{ENDPOINT}/1/0/1",
                         {"id": 1, "kind": "singleResource", "value": 4,
                          "type": "integer"})  # fmt: skip
    assert written["status"] == "CHANGED(204)"
    stamps: list[int] = []

    async def updated_twice() -> bool:
        registration = await call(rest, "GET", f"/clients/{ENDPOINT}")
        if registration["lifetime"] == 4 and registration["lastUpdate"] not in stamps:
            stamps.append(registration["lastUpdate"])
        return len(stamps) == 2

    await wait_for(updated_twice, 8, interval=0.2)
    assert stamps[1] - stamps[0] < 4000


async def test_int_109_queue_mode_sleeps_and_requests_wait_for_it(
    leshan: MlaasService, rest: aiohttp.ClientSession
) -> None:
    """A queue-mode device closes its receive window after the awake time: the server says
    SLEEPING (and `sleeping`); a read meanwhile is answered `delayed` (Leshan's queue mode)
    and sent when the device's next Update wakes it (AWAKE), its answer a REQUEST_RESPONSE."""
    server = leshan.server
    config = DeviceConfig("client_7a", server=f"coap://127.0.0.1:{server.port}",
                          queue_mode=True, awake_time=server.config.queue_awake_time,
                          lifetime=300)  # fmt: skip
    async with stream(rest, "client_7a") as events, SimulatedDevice(config, server.model) as device:
        assert (await next_event(events, "SLEEPING"))["ep"] == "client_7a"
        assert (await call(rest, "GET", "/clients/client_7a"))["sleeping"] is True
        assert not device.awake
        read = await call(rest, "GET", "/clients/client_7a/3/0/0")
        assert read["delayed"] is True and read["path"] == "/3/0/0"
        await device.update()
        assert (await next_event(events, "AWAKE"))["ep"] == "client_7a"
        answered = await next_event(events, "REQUEST_RESPONSE")
    assert answered["requestId"] == read["requestId"]
    assert answered["response"]["content"]["value"] == device.tree.get("/3/0/0")


async def test_int_202_opaque_read(rest: aiohttp.ClientSession,
                                   endpoint: SimulatedDevice) -> None:  # fmt: skip
    """An opaque resource instance (/16/0/2/0 AuthData) read in Opaque (42): its bytes, in
    Leshan's hex; a string resource asked for in Opaque is the device's 4.06."""
    body = {"kind": "instance", "id": 0, "resources": [
        {"id": 0, "kind": "multiResource", "type": "string", "values": {"0": "host"}},
        {"id": 2, "kind": "multiResource", "type": "opaque", "values": {"0": "cafe0001"}}]}
    assert (await call(rest, "POST", f"/clients/{ENDPOINT}/16", body))["status"] == "CREATED(201)"
    read = await call(rest, "GET", f"/clients/{ENDPOINT}/16/0/2/0", format="OPAQUE")
    assert read["status"] == "CONTENT(205)"
    assert read["content"] == {"id": 0, "kind": "resourceInstance", "type": "OPAQUE",
                               "value": "cafe0001"}  # fmt: skip
    assert endpoint.tree.get("/16/0/2") == {0: bytes.fromhex("cafe0001")}
    refused = await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/0", format="OPAQUE")
    assert refused["status"] == "NOT_ACCEPTABLE(406)" and refused["success"] is False


async def test_int_241_reboot(rest: aiohttp.ClientSession, endpoint: SimulatedDevice,
                              leshan: MlaasService) -> None:  # fmt: skip
    """Execute /3/0/4: the device restarts and registers afresh (no De-register); what the
    server observed on it went with the old registration, on both sides."""
    first = await call(rest, "GET", f"/clients/{ENDPOINT}")
    observers = len(endpoint._listeners)
    assert (await call(rest, "POST", f"/clients/{ENDPOINT}/3/0/9/observe", ""))["status"] \
        == "CONTENT(205)"  # fmt: skip
    await wait_for(lambda: len(endpoint._listeners) == observers + 1)
    async with stream(rest, ENDPOINT) as events:
        executed = await call(rest, "POST", f"/clients/{ENDPOINT}/3/0/4")
        assert executed["status"] == "CHANGED(204)"
        registered = await next_event(events, "REGISTRATION")
    assert registered["registrationId"] != first["registrationId"] and endpoint.reboots == 1
    await wait_for(lambda: len(endpoint._listeners) == observers)
    async with leshan.server.store.transaction() as tx:
        assert await tx.observations.all() == []
    assert (await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/0"))["status"] == "CONTENT(205)"


async def test_int_301_observation_with_pmin_and_pmax(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """/3/0/7 observed with pmin 1 s and pmax 2 s (the ETS: 5 and 10): a new value notifies,
    the next no sooner than pmin after it, and with no change one still comes by pmax."""
    sources = (await call(rest, "GET", f"/clients/{ENDPOINT}/3/0/6"))["content"]
    assert sources["values"] == {"0": "1", "1": "5"}
    await write_attributes(rest, "3/0/7", pmin="1", pmax="2")
    async with stream(rest, ENDPOINT) as events:
        observed = await call(rest, "POST", f"/clients/{ENDPOINT}/3/0/7/observe", "")
        assert observed["status"] == "CONTENT(205)"

        async def notified(millivolts: str) -> float:
            while (await next_event(events, "NOTIFICATION"))["val"]["values"]["0"] != millivolts:
                pass
            return asyncio.get_running_loop().time()

        endpoint.tree.set("/3/0/7", {0: 3000, 1: 5000})
        first = await notified("3000")
        endpoint.tree.set("/3/0/7", {0: 3500, 1: 5000})
        second = await notified("3500")
        assert second - first >= 0.5  # (pmin 1 s at the device; the network may shorten it)
        await notified("3500")  # unchanged: pmax
    cancelled = await call(rest, "DELETE", f"/clients/{ENDPOINT}/3/0/7/observe", active="")
    assert cancelled["status"] == "CONTENT(205)"
    await write_attributes(rest, "3/0/7", pmin="", pmax="")


async def test_int_310_observe_composite_with_pmax_on_the_object(
    rest: aiohttp.ClientSession, endpoint: SimulatedDevice
) -> None:
    """Observe-Composite of /1/0/1 and /3/0, then pmax 1 s on /3 (the ETS: 5 s): with no
    change, notifications keep coming, each with the Device instance and the lifetime."""
    paths = "/1/0/1,/3/0"
    answer = await call(rest, "POST", f"/clients/{ENDPOINT}/composite/observe", paths=paths)
    assert answer["status"] == "CONTENT(205)"
    async with stream(rest, ENDPOINT) as events:
        await write_attributes(rest, "3", pmax="1")
        for _ in range(2):
            notification = await next_event(events, "NOTIFICATION")
            assert notification["kind"] == "composite"
            assert values(notification["val"]["/3/0"])[0] == endpoint.tree.get("/3/0/0")
            assert notification["val"]["/1/0/1"]["value"] == str(endpoint.lifetime)
    await call(rest, "DELETE", f"/clients/{ENDPOINT}/composite/observe", paths=paths, active="")


async def test_bootstrap_6_sequence(leshan: MlaasService, rest: aiohttp.ClientSession) -> None:
    """A device that has its LwM2M server account registers at a restart without a bootstrap;
    once that account (/0 and /1 instances) is gone, it bootstraps first."""
    server = leshan.server
    await call(rest, "POST", "/bootstrap/client_8b", placing_config(30).to_json())
    device = SimulatedDevice(DeviceConfig("client_8b", server=f"coap://127.0.0.1:{server.port}",
                                          bootstrap=True), server.model)  # fmt: skip
    for bootstraps, forget in ((1, False), (1, True), (2, False)):
        await device.start()
        assert device.bootstraps == bootstraps
        assert (await call(rest, "GET", "/clients/client_8b"))["endpoint"] == "client_8b"
        await device.stop()
        if forget:
            for object_id in (0, 1):  # (the Bootstrap-Server account stays)
                device.tree.bootstrap_delete(Lwm2mPath.of(object_id))


async def test_bootstrap_7_fallback_to_bootstrap(
    leshan: MlaasService, rest: aiohttp.ClientSession
) -> None:
    """The LwM2M server's URI on the device (/0/x/0) turns unreachable: the device's Register
    fails, it falls back to its bootstrap server, which gives it a working one back."""
    server = leshan.server
    await call(rest, "POST", "/bootstrap/client_9c", placing_config(30).to_json())
    device = SimulatedDevice(DeviceConfig("client_9c", server=f"coap://127.0.0.1:{server.port}",
                                          bootstrap=True), server.model)  # fmt: skip
    await device.start()
    await device.stop(deregister=False)
    [dm] = [i for i, r in device.tree.data[0].items() if r.get(1) is False]
    unreachable = f"coap://127.0.0.1:{free_udp_port()}"  # (nothing listens there)
    device.tree.set(f"/0/{dm}/0", unreachable)
    await device.start(register_timeout=3)
    try:
        assert device.bootstraps == 2
        account = dm_account(device.tree)
        assert account is not None and account.uri == f"coap://127.0.0.1:{server.port}"
        assert (await call(rest, "GET", "/clients/client_9c"))["endpoint"] == "client_9c"
    finally:
        await device.stop()


async def test_bootstrap_1_int_401_over_dtls_psk(leshan: MlaasService, fleet_config: ServerConfig,
                                                 rest: aiohttp.ClientSession) -> None:  # fmt: skip
    """Zephyr's DTLS set-up, unmodified, on two services in interop mode: the device's
    bootstrap PSK put on the one serving as bootstrap server, its LwM2M server PSK on the
    other (create_bs_device, create_psk_device); the device bootstraps over DTLS, registers
    over DTLS (`secure`, int-401), and its PSK stays the one put through the REST API."""
    dm = leshan.server
    bs_config = replace(fleet_config, leshan_open=True, provisioning=False,
                        data_dir=fleet_config.data_dir / "bs")  # fmt: skip
    endpoint, bs_key, dm_key = "client_ad", b"bs-secret-0001", b"dm-secret-0002"
    async with MlaasService(bs_config) as bs:
        assert bs.api is not None
        async with aiohttp.ClientSession(bs.api.url) as bs_rest:
            await call(bs_rest, "PUT", "/security/clients/", {"endpoint": endpoint, "tls": {
                "mode": "psk", "details": {"identity": endpoint, "key": bs_key.hex()}}})
            await call(bs_rest, "POST", f"/bootstrap/{endpoint}", {
                "servers": {"0": {"binding": "U", "defaultMinPeriod": 1, "lifetime": 86400,
                                  "notifIfDisabled": False, "shortId": 1}},
                "security": {"1": {
                    "bootstrapServer": False, "clientOldOffTime": 1, "serverId": 1,
                    "publicKeyOrId": list(endpoint.encode()), "secretKey": list(dm_key),
                    "securityMode": "PSK", "serverSmsNumber": "", "smsBindingKeyParam": [],
                    "smsBindingKeySecret": [], "smsSecurityMode": "NO_SEC",
                    "uri": f"coaps://127.0.0.1:{dm.dtls_port}"}},
                "oscore": {}, "toDelete": ["/0", "/1"]}, format="SENML_CBOR")
        await call(rest, "PUT", "/security/clients/", {"endpoint": endpoint, "tls": {
            "mode": "psk", "details": {"identity": endpoint, "key": dm_key.hex()}}})
        config = DeviceConfig(endpoint, server=f"coaps://127.0.0.1:{bs.server.dtls_port}",
                              bootstrap=True, psk_identity=endpoint, psk_key=bs_key)
        async with SimulatedDevice(config, dm.model) as device:
            assert device.bootstraps == 1 and device.secure
            registration = await call(rest, "GET", f"/clients/{endpoint}")
            assert registration["secure"] is True
            read = await call(rest, "GET", f"/clients/{endpoint}/3/0/0")
            assert read["status"] == "CONTENT(205)"
    assert await bootstrap_result(bs.server, endpoint) == "finished"
