"""The rest of Leshan's client routes (discover, write-attributes, create, delete, composite
read, time-outs, queue mode), the event stream's filter and clean-up, security clients, object
specs, authentication, bad input, and the OpenAPI document; all over real HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiocoap
import aiohttp
import pytest

from lwm2m_mlaas.api import load_token
from lwm2m_mlaas.api.auth import TOKEN_FILE
from lwm2m_mlaas.api.events import BACKLOG
from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.registration import Registration
from lwm2m_mlaas.server import Event, EventKind
from tests.helpers import wait_for
from tests.helpers.service import Api, Devices


async def get_json(api: Api, path: str, status: int = 200, **params: str) -> Any:
    async with api.session.get(path, params=params) as response:
        assert response.status == status, await response.text()
        return await response.json() if status == 200 else await response.text()


async def test_discover_and_write_attributes(api: Api, devices: Devices) -> None:
    await devices("dev-a", task="")
    async with api.session.put("/api/clients/dev-a/3/0/9/attributes",
                               params={"pmin": "5", "pmax": "60", "gt": "50.5"}) as response:
        assert (await response.json())["status"] == "CHANGED(204)"
    body = await get_json(api, "/api/clients/dev-a/3/0/discover")
    assert list(body) == ["status", "valid", "success", "failure", "objectLinks"]
    links = {link["url"]: link["attributes"] for link in body["objectLinks"]}
    assert links["/3/0/9"] == {"pmin": "5", "pmax": "60", "gt": "50.5"}
    assert links["/3/0"] == {} and "/3/0/0" in links
    async with api.session.put("/api/clients/dev-a/3/0/9/attributes",
                               params={"pmin": "", "gt": ""}) as response:  # unset
        assert (await response.json())["success"] is True
    body = await get_json(api, "/api/clients/dev-a/3/0/9/discover")
    assert body["objectLinks"] == [{"url": "/3/0/9", "attributes": {"pmax": "60"}}]
    for bad in ({"pmin": "soon"}, {"colour": "red"}, {}):
        async with api.session.put("/api/clients/dev-a/3/0/9/attributes",
                                   params=bad) as response:
            assert response.status == 400
            assert (await response.text()).startswith("Invalid attributes: ")


async def test_create_and_delete_an_instance(api: Api, devices: Devices) -> None:
    device = await devices("dev-c", task="")
    instance = {"id": 1, "kind": "instance", "resources": [
        {"id": 0, "kind": "singleResource", "type": "INTEGER", "value": "2"},
        {"id": 1, "kind": "singleResource", "type": "INTEGER", "value": 300},
        {"id": 7, "kind": "singleResource", "type": "STRING", "value": "U"}]}  # fmt: skip
    async with api.session.post("/api/clients/dev-c/1", json=instance) as response:
        created = await response.json()
    assert created["status"] == "CREATED(201)" and created["success"] is True
    assert device.tree.get("/1/1/1") == 300
    async with api.session.post("/api/clients/dev-c/1", json=instance) as response:
        again = await response.json()
    assert again["status"] == "BAD_REQUEST(400)" and again["failure"] is True
    assert again["valid"] is True and "exists" in again["errormessage"]
    async with api.session.delete("/api/clients/dev-c/1/1") as response:
        assert (await response.json())["status"] == "DELETED(202)"
    async with api.session.get("/api/clients/dev-c/1/1") as response:
        gone = await response.json()
    assert gone["status"] == "NOT_FOUND(404)" and "content" not in gone


async def test_composite_read(api: Api, devices: Devices) -> None:
    await devices("dev-m", task="sine")
    for fmt in ("SENML_CBOR", "SENML_JSON"):
        body = await get_json(api, "/api/clients/dev-m/composite", paths="/3/0/0,/32100/0/5,/1/0",
                              nodeformat=fmt)  # fmt: skip
        assert body["status"] == "CONTENT(205)"
        content = body["content"]
        assert set(content) == {"/3/0/0", "/32100/0/5", "/1/0"}
        assert content["/32100/0/5"] == {"id": 5, "kind": "singleResource", "type": "STRING",
                                         "value": "sine"}  # fmt: skip
        assert content["/1/0"]["kind"] == "instance"
    await get_json(api, "/api/clients/dev-m/composite", 400, paths="")
    await get_json(api, "/api/clients/dev-m/composite", 400, paths="/3/0", nodeformat="TLV")


async def test_a_silent_device_times_out_with_504(api: Api, service: MlaasService) -> None:
    """A socket that registers and then never answers."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        register = aiocoap.Message(code=aiocoap.POST, payload=b"</3/0>", uri_path=("rd",),
                                   uri_query=("ep=mute", "lt=60"))
        register.mtype, register.mid, register.token = aiocoap.NON, 1, b"t"
        transport.sendto(register.encode(), ("127.0.0.1", service.server.port))
        await wait_for(lambda: service.server.registrations.by_endpoint("mute") is not None)
        async with api.session.get("/api/clients/mute/3/0/0",
                                   params={"timeout": "1"}) as response:  # fmt: skip
            assert response.status == 504
            assert await response.text() == "Request timeout"
    finally:
        transport.close()


async def test_queue_mode_requests_are_delayed_and_answered_by_event(
    api: Api, events: Any, devices: Devices, service: MlaasService
) -> None:
    async with events(ep="sleepy") as stream:
        device = await devices("sleepy", task="", queue_mode=True, awake_time=0.5, lifetime=8)
        await stream.next("SLEEPING", timeout=service.config.queue_awake_time + 5)
        node = {"id": 14, "kind": "singleResource", "type": "STRING", "value": "+01:00"}
        async with api.session.put("/api/clients/sleepy/3/0/14", json=node) as response:
            delayed = await response.json()
        assert delayed == {"ep": "sleepy", "path": "/3/0/14",
                           "requestId": delayed["requestId"], "delayed": True}  # fmt: skip
        answered = await stream.next("REQUEST_RESPONSE", timeout=15)
        assert answered == {**delayed, "response": {
            "status": "CHANGED(204)", "valid": True, "success": True, "failure": False}}
        assert device.tree.get("/3/0/14") == "+01:00"
        client = await get_json(api, "/api/clients/sleepy")
        assert client["queuemode"] is True and isinstance(client["sleeping"], bool)


async def test_event_stream_filters_by_endpoint_and_forgets_closed_streams(
    api: Api, events: Any, devices: Devices, service: MlaasService
) -> None:
    listeners = service.server.events.listener_count
    async with events(ep="wanted") as filtered, events() as everything:
        assert service.server.events.listener_count == listeners + 2
        await devices("other", task="")
        await devices("wanted", task="")
        assert (await filtered.next("REGISTRATION"))["endpoint"] == "wanted"
        first = await everything.next("REGISTRATION")
        second = await everything.next("REGISTRATION")
        assert {first["endpoint"], second["endpoint"]} == {"other", "wanted"}
        assert all(data.get("ep", data.get("endpoint")) == "wanted"
                   for _, data in filtered.seen)  # fmt: skip
    # the client went away: its listener and queue go within the poll interval
    await wait_for(lambda: service.server.events.listener_count == listeners, timeout=5)


async def test_a_stream_that_stops_reading_is_dropped(
    http_base: str, service: MlaasService
) -> None:
    listeners = service.server.events.listener_count
    async with aiohttp.ClientSession(http_base) as session, \
            session.get("/api/event") as response:  # fmt: skip
        assert response.status == 200
        await wait_for(lambda: service.server.events.listener_count == listeners + 1)
        fake = Registration("r1", "flood", "127.0.0.1", 1, 60, "1.1", "U", True, (), 0.0, 0.0)
        for _ in range(BACKLOG + 1):  # never read by the client
            service.server.events.publish(Event(EventKind.AWAKE, fake))
        await wait_for(lambda: service.server.events.listener_count == listeners, timeout=5)


async def test_security_clients(api: Api, anonymous: Api, service: MlaasService) -> None:
    info = {"endpoint": "dev-s", "tls": {"mode": "psk",
                                         "details": {"identity": "dev-s-id", "key": "73656372"}}}
    async with api.session.put("/api/security/clients/", json=info) as response:
        assert response.status == 200 and await response.read() == b""
    assert await get_json(api, "/api/security/clients") == [info]
    assert await get_json(api, "/api/security/clients/dev-s") == info
    async with service.server.store.transaction() as tx:  # stored in the database
        stored = await tx.security.get("dev-s")
    assert stored is not None and stored.key == b"secr" and stored.identity == "dev-s-id"
    other = {"endpoint": "dev-t", "tls": {"mode": "psk",
                                          "details": {"identity": "dev-s-id", "key": "00"}}}
    async with api.session.put("/api/security/clients", json=other) as response:
        assert response.status == 400
        assert "already used by endpoint 'dev-s'" in await response.text()
    bad: Any
    for bad in ({"endpoint": "x", "tls": {"mode": "psk", "details": {"identity": "i",
                                                                       "key": "zz"}}},
                {"endpoint": "x", "tls": {"mode": "x509"}}, {"tls": {}}, [1]):  # fmt: skip
        async with api.session.put("/api/security/clients", json=bad) as response:
            assert response.status == 400, bad
            assert (await response.text()).startswith("Invalid request: ")
    async with anonymous.session.get("/api/security/clients") as response:
        assert response.status == 401  # keys are never open
    async with api.session.delete("/api/security/clients/dev-s") as response:
        assert response.status == 200 and await response.read() == b""
    async with api.session.delete("/api/security/clients/dev-s") as response:
        assert await response.json() == {"message": "not_found"}
    assert await get_json(api, "/api/security/clients") == []


async def test_objectspecs(api: Api, devices: Devices) -> None:
    specs = await get_json(api, "/api/objectspecs")
    by_id = {spec["id"]: spec for spec in specs}
    assert {0, 1, 3, 5, 32100, 32101} <= set(by_id)
    device = by_id[3]
    assert list(device) == ["id", "name", "instancetype", "mandatory", "urn", "version",
                            "lwm2mversion", "description", "description2", "resourcedefs"]
    assert (device["name"], device["instancetype"]) == ("Device", "single")
    manufacturer = device["resourcedefs"][0]
    assert list(manufacturer) == ["id", "name", "operations", "instancetype", "mandatory",
                                  "type", "range", "units", "description"]  # fmt: skip
    assert (manufacturer["name"], manufacturer["type"], manufacturer["operations"]) == (
        "Manufacturer", "string", "R")
    await devices("dev-o", task="")
    of_client = await get_json(api, "/api/objectspecs/dev-o")
    assert [spec["id"] for spec in of_client] == [1, 3, 5, 32100, 32101]


async def test_authentication(api: Api, anonymous: Api, devices: Devices,
                              service: MlaasService) -> None:  # fmt: skip
    assert service.api is not None
    token_file = service.config.data_dir / TOKEN_FILE
    assert token_file.read_text().strip() == service.api.token
    assert token_file.stat().st_mode & 0o777 == 0o600
    await devices("dev-x", task="")
    async with anonymous.session.get("/api/clients/dev-x/3/0/0") as response:
        assert response.status == 200  # Leshan reads stay open on loopback
    node = {"id": 14, "kind": "singleResource", "type": "STRING", "value": "x"}
    for method, path, body in (("PUT", "/api/clients/dev-x/3/0/14", node),
                               ("POST", "/api/clients/dev-x/1/0/8", None),
                               ("GET", "/api/mlaas/fleet", None),
                               ("GET", "/api/mlaas/classes", None)):  # fmt: skip
        async with anonymous.session.request(method, path, json=body) as response:
            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer not-the-token"}
        async with anonymous.session.request(method, path, json=body,
                                             headers=wrong) as response:  # fmt: skip
            assert response.status == 401, path
    async with anonymous.session.get("/api/mlaas/fleet") as response:
        assert (await response.json())["status"] == 401


async def test_closed_reads_need_the_token(fleet_config: ServerConfig) -> None:
    config = replace(fleet_config, open_reads=False)
    async with MlaasService(config) as service:
        assert service.api is not None
        url = service.api.url
        async with aiohttp.ClientSession(url) as session:
            async with session.get("/api/clients") as response:
                assert response.status == 401
            headers = {"Authorization": f"Bearer {service.api.token}"}
            async with session.get("/api/clients", headers=headers) as response:
                assert response.status == 200 and await response.json() == []


def test_the_token_persists_across_runs(tmp_path: Path) -> None:
    first = load_token(tmp_path)
    assert len(first) >= 40 and load_token(tmp_path) == first


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/api/nothing", None, 404, "404 no such route: GET /api/nothing"),
        ("GET", "/api/clients/nobody", None, 400, "No registered client with id 'nobody'"),
        ("GET", "/api/clients/nobody/3/0", None, 400, "No registered client with id 'nobody'"),
        ("GET", "/api/clients/dev-b/3/0?format=XML", None, 400, "Invalid request: unknown format"),
        ("GET", "/api/clients/dev-b/3/0?timeout=soon", None, 400, "Invalid request: timeout"),
        ("GET", "/api/clients/dev-b/99999/0", None, 400, "Invalid request: path id 99999"),
        ("PUT", "/api/clients/dev-b/3/0/14", b"{not json", 400, "Invalid request: the body is"),
        ("PUT", "/api/clients/dev-b/3/0/14", [1, 2], 400, "Invalid request: /3/0/14: a node"),
        ("PUT", "/api/clients/dev-b/3/0/14", {"id": 14, "kind": "singleResource",
                                              "type": "INTEGER", "value": "x"}, 400,
         "Invalid request: "),
        ("PUT", "/api/clients/dev-b/3/0/14", {"id": 15, "kind": "singleResource",
                                              "value": "x"}, 400, "Invalid request: path"),
        ("PUT", "/api/clients/dev-b/3", {}, 400, "Invalid request: write needs"),
        ("POST", "/api/clients/dev-b/3/0/1/0", None, 400, "Invalid request: POST"),
        ("POST", "/api/clients/dev-b/1", {"kind": "singleResource"}, 400, "Invalid request: "),
        ("PATCH", "/api/clients/dev-b/3/0/14", None, 405, "405 method not allowed"),
        ("PUT", "/api/mlaas/assignments", {"scope": "planet"}, 400, "Invalid request: "),
        ("GET", "/api/mlaas/deliveries/abc", None, 400, "Invalid request: delivery id"),
        ("GET", "/api/mlaas/artifacts/none", None, 404, "no artifact 'none'"),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_message(
    api: Api, devices: Devices, method: str, path: str, body: Any, status: int, message: str
) -> None:
    await devices("dev-b", task="")
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    if isinstance(body, bytes):
        kwargs["headers"] = {"Content-Type": "application/json"}
    async with api.session.request(method, path, **kwargs) as response:
        text = await response.text()
        assert response.status == status, text
    if path.startswith("/api/mlaas"):
        assert response.content_type == "application/json"
        assert (await response.json())["message"].startswith(message)
    else:
        assert text.startswith(message), text
    async with api.session.get("/api/clients/dev-b") as response:
        assert response.status == 200  # still up, device still there


async def test_openapi_document_lists_every_route(api: Api, service: MlaasService) -> None:
    document = await get_json(api, "/api/openapi.json")
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in (("/api/clients", "get"), ("/api/clients/{ep}/{path}", "put"),
                         ("/api/clients/{ep}/{path}/observe", "delete"),
                         ("/api/event", "get"), ("/api/security/clients", "put"),
                         ("/api/mlaas/fleet", "get"),
                         ("/api/mlaas/artifacts/{id}/package", "get")):  # fmt: skip
        assert method in paths[path], (path, method)
        assert paths[path][method]["summary"]
    assert paths["/api/clients/{ep}/{path}"]["put"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/api/clients"]["get"]
    assert paths["/api/clients/{ep}"]["get"]["parameters"][0]["name"] == "ep"
    assert service.api is not None
    routes: set[tuple[str, str]] = set()
    for route in service.api.app.router.routes():
        assert route.resource is not None
        if route.method != "HEAD" and route.resource.canonical.startswith("/api/"):
            routes.add((route.resource.canonical, route.method))
    assert len(routes) == sum(len(methods) for methods in paths.values())


async def test_open_streams_end_when_the_server_stops(fleet_config: ServerConfig) -> None:
    service = MlaasService(fleet_config)
    await service.start()
    assert service.api is not None
    async with aiohttp.ClientSession(service.api.url) as session, \
            session.get("/api/event") as response:  # fmt: skip
        assert await response.content.readline() == b": connected\n"
        await asyncio.wait_for(service.stop(), 10)
        assert await asyncio.wait_for(response.content.read(), 5) == b"\n"


def test_reads_close_when_bound_beyond_loopback(fleet_config: ServerConfig) -> None:
    from lwm2m_mlaas.api import ApiServer
    from lwm2m_mlaas.api.auth import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.2")
    assert not is_loopback("::") and not is_loopback("example.org")
    exposed = MlaasService(replace(fleet_config, http_host="0.0.0.0"))
    assert ApiServer(exposed).open_reads is False  # never started: nothing is bound
    assert ApiServer(MlaasService(fleet_config)).open_reads is True


async def test_random_requests_never_get_a_500(api: Api, devices: Devices) -> None:
    """A few hundred malformed requests: every one gets a 4xx or a device answer, and the
    server keeps serving."""
    import json
    import random

    await devices("dev-r", task="")
    rng = random.Random(5)
    segments = ["3", "0", "1", "14", "65536", "-1", "x", "", "composite", "observe", "discover",
                "attributes", "dev-r", "nobody", "%00", "..", "99999999999999999999"]
    bodies: list[bytes | None] = [
        None, b"", b"{", b"[]", b"null", b"1", b'"x"', b'{"id":1}', b'{"kind":"obj"}',
        b'{"id":14,"kind":"singleResource","type":"OBJLNK","value":{"objectId":"q"}}',
        b'{"id":0,"kind":"instance","resources":[{"id":1,"values":{"z":1},"type":"STRING"}]}',
        b'{"endpoint":"","tls":{"mode":"psk","details":{"identity":"","key":""}}}',
        json.dumps({"id": 13, "kind": "singleResource", "type": "TIME", "value": 1e300}).encode(),
        bytes(range(256)),
    ]  # fmt: skip
    prefixes = ["/api/clients/dev-r", "/api/clients", "/api/security/clients", "/api/mlaas",
                "/api/mlaas/deliveries", "/api/mlaas/artifacts", "/api/objectspecs", "/api"]
    queries = ["", "?format=TLV", "?format=nope", "?timeout=0", "?timeout=1", "?replace=maybe",
               "?pmin=1&pmin=2", "?paths=/3/0,x", "?active", "?ep=%ff"]  # fmt: skip
    for _ in range(300):
        path = rng.choice(prefixes) + "".join(
            "/" + rng.choice(segments) for _ in range(rng.randrange(4)))
        method = rng.choice(["GET", "PUT", "POST", "DELETE"])
        body = rng.choice(bodies)
        headers = {"Content-Type": rng.choice(["application/json", "text/plain", "x/y"])}
        async with api.session.request(method, path + rng.choice(queries), data=body,
                                       headers=headers) as response:  # fmt: skip
            text = await response.text(errors="replace")
            assert response.status < 500, (method, path, body, text)
            if response.status >= 400:
                assert text, (method, path)
    async with api.session.get("/api/clients/dev-r/3/0/2") as response:
        assert (await response.json())["content"]["value"] == "SN-dev-r"
