"""/api/bootstrap over real HTTP, in the shape of Leshan's bootstrap-server demo
(BootstrapServlet): POST, GET and DELETE of configs, the checker's refusals as 400 text/plain,
PSK identities that belong to one endpoint only, the bearer token, /api/mlaas/bootstrap, the
OpenAPI document, and a factory device bootstrapped over DTLS from a config posted here."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.sim.accounts import dm_account
from lwm2m_mlaas.sim.device import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.bootstrap import BS_KEY, DM_KEY, LESHAN_EXAMPLE
from tests.helpers.service import Api


def config_for(identity: str, key: bytes = BS_KEY, **security_0: Any) -> dict[str, Any]:
    """The Leshan example with another bootstrap identity and key (and other changes to its
    bootstrap account)."""
    data = copy.deepcopy(LESHAN_EXAMPLE)
    data["security"]["0"].update(
        {"publicKeyOrId": list(identity.encode()), "secretKey": list(key), **security_0}
    )
    return data


async def post_config(api: Api, endpoint: str, body: Any, status: int = 200) -> str:
    async with api.session.post(
        f"/api/bootstrap/{endpoint}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    ) as response:
        text = await response.text()
        assert response.status == status, text
        if status == 200:
            assert text == ""
        else:
            assert response.content_type == "text/plain"
        return text


async def get(api: Api, path: str, status: int = 200) -> Any:
    async with api.session.get(path) as response:
        assert response.status == status, await response.text()
        return await response.json() if status == 200 else await response.text()


async def test_post_get_and_delete_a_config(api: Api) -> None:
    assert await get(api, "/api/bootstrap") == {}
    await post_config(api, "ep1", LESHAN_EXAMPLE)
    configs = await get(api, "/api/bootstrap")
    assert list(configs) == ["ep1"]
    config = configs["ep1"]
    assert config == await get(api, "/api/bootstrap/ep1")
    assert config["toDelete"] == ["/0", "/1", "/21"]
    assert config["autoIdForSecurityObject"] is False
    assert config["acls"] == {} and config["oscore"] == {}
    assert "contentFormat" not in config
    # byte fields come back as unsigned int arrays, every default filled in
    assert config["security"]["0"]["secretKey"] == list(BS_KEY)
    assert config["security"]["1"]["secretKey"] == list(DM_KEY)
    assert max(config["security"]["1"]["secretKey"]) == 240
    assert config["security"]["0"]["bootstrapServerAccountTimeout"] == 0
    for instance, entry in LESHAN_EXAMPLE["security"].items():
        assert entry.items() <= config["security"][instance].items()
    assert config["servers"] == LESHAN_EXAMPLE["servers"]
    # what GET returns is accepted back as is
    await post_config(api, "ep1", config)
    assert await get(api, "/api/bootstrap/ep1") == config

    async with api.session.delete("/api/bootstrap/ep1") as response:
        assert response.status == 204 and await response.read() == b""
    async with api.session.delete("/api/bootstrap/ep1") as response:
        assert response.status == 404
        assert response.content_type == "text/plain"
        assert await response.text() == "no config for ep1"
    assert await get(api, "/api/bootstrap/ep1", 404) == "no config for ep1"
    assert await get(api, "/api/bootstrap") == {}


async def test_post_replaces_and_reads_signed_and_base64_bytes(api: Api) -> None:
    signed = [b - 256 if b > 127 else b for b in BS_KEY]  # Leshan's JSON file store form
    await post_config(api, "ep2", config_for("ep2-bs-id", secretKey=signed))
    first = await get(api, "/api/bootstrap/ep2")
    assert first["security"]["0"]["secretKey"] == list(BS_KEY)
    replacement = config_for("ep2-bs-id")
    replacement["security"]["0"]["secretKey"] = "AAECAwQFBgcICQoLDA0ODw=="  # base64
    replacement["servers"]["0"]["lifetime"] = 600
    await post_config(api, "ep2", replacement)
    second = await get(api, "/api/bootstrap/ep2")
    assert second["security"]["0"]["secretKey"] == list(range(16))
    assert second["servers"]["0"]["lifetime"] == 600
    assert list(await get(api, "/api/bootstrap")) == ["ep2"]


@pytest.mark.parametrize(("body", "message"), [
    ({**LESHAN_EXAMPLE, "endpoint": "ep1"}, "config: unknown field(s) endpoint"),
    ([LESHAN_EXAMPLE], "a bootstrap config is a JSON object"),
    (None, "a bootstrap config is a JSON object"),
    ({**LESHAN_EXAMPLE, "toDelete": ["/0", "/zero"]}, "/zero is not a valid path"),
    ({**LESHAN_EXAMPLE, "acls": {"0": {"objectId": 3}}}, "acls (object 2) are not supported"),
    ({**LESHAN_EXAMPLE, "autoIdForSecurityObject": True},
     "autoIdForSecurityObject is not supported"),
    ({**LESHAN_EXAMPLE, "servers": {"0": {"shortId": 0}}}, "servers 0: shortId must be 1..65534"),
    ({**LESHAN_EXAMPLE, "servers": {"0": {"shortId": 124}}},
     "no security entry for server instance: 0"),
    (config_for("ep1-bs-id", secretKey=[]), "security 0: pre-shared-key mode, identity and key "
     "are mandatory for the bootstrap server"),
    (config_for("i" * 33), "security 0: PSK identities take at most 32 bytes and keys 16"),
    (config_for("ep1-bs-id", securityMode="psk"), "security 0: securityMode is one of PSK"),
    (config_for("ep1-bs-id", securityMode="NO_SEC"), "security 0: NO-SEC mode, keys must be "
     "empty"),
    (config_for("ep1-bs-id", secretKey="%%"), "security 0: secretKey is an array of bytes or "
     "base64"),
    ({**LESHAN_EXAMPLE, "servers": {"0": {"shortId": 123, "binding": "W"}}},
     "servers 0: binding is letters of U, T, S, N and Q"),
])  # fmt: skip
async def test_invalid_configs_are_refused(api: Api, body: Any, message: str) -> None:
    text = await post_config(api, "bad", body, status=400)
    assert message in text, text
    assert await get(api, "/api/bootstrap") == {}


async def test_malformed_json_is_refused(api: Api) -> None:
    async with api.session.post(
        "/api/bootstrap/bad", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.text()).startswith("Invalid request: the body is not JSON")
    assert await get(api, "/api/bootstrap") == {}


async def test_a_psk_identity_belongs_to_one_endpoint(api: Api) -> None:
    await post_config(api, "ep-a", config_for("shared-id"))
    text = await post_config(api, "ep-b", config_for("shared-id"), status=400)
    assert "PSK identity 'shared-id' is already used by endpoint 'ep-a'" in text
    await post_config(api, "ep-a", config_for("shared-id", bytes(16)))  # its own: replaced

    # a DM credential's identity cannot be a bootstrap identity, nor the other way round
    dm = {
        "endpoint": "ep-dm",
        "tls": {"mode": "psk", "details": {"identity": "dm-id", "key": "00" * 16}},
    }
    async with api.session.put("/api/security/clients", json=dm) as response:
        assert response.status == 200
    text = await post_config(api, "ep-c", config_for("dm-id"), status=400)
    assert "PSK identity 'dm-id' is already used by endpoint 'ep-dm'" in text
    taken = {
        "endpoint": "ep-x",
        "tls": {"mode": "psk", "details": {"identity": "shared-id", "key": "11"}},
    }
    async with api.session.put("/api/security/clients", json=taken) as response:
        assert response.status == 400
        assert "is the bootstrap credential of endpoint 'ep-a'" in await response.text()
    assert sorted(await get(api, "/api/bootstrap")) == ["ep-a"]
    assert [c["endpoint"] for c in await get(api, "/api/security/clients")] == ["ep-dm"]

    # once its config is gone, the identity is free again
    async with api.session.delete("/api/bootstrap/ep-a") as response:
        assert response.status == 204
    await post_config(api, "ep-b", config_for("shared-id"))
    assert sorted(await get(api, "/api/bootstrap")) == ["ep-b"]


async def test_every_bootstrap_route_needs_the_token(api: Api, anonymous: Api) -> None:
    await post_config(api, "ep-t", config_for("ep-t-id"))
    for method, path, body in (("GET", "/api/bootstrap", None),
                               ("GET", "/api/bootstrap/ep-t", None),
                               ("POST", "/api/bootstrap/ep-u", LESHAN_EXAMPLE),
                               ("DELETE", "/api/bootstrap/ep-t", None),
                               ("GET", "/api/mlaas/bootstrap", None)):  # fmt: skip
        async with anonymous.session.request(method, path, json=body) as response:
            assert response.status == 401, (method, path)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            if path.startswith("/api/mlaas"):
                assert (await response.json())["status"] == 401
            else:
                assert response.content_type == "text/plain"
                assert (await response.text()).startswith("Unauthorized")
        wrong = {"Authorization": "Bearer not-the-token"}
        async with anonymous.session.request(method, path, json=body,
                                             headers=wrong) as response:  # fmt: skip
            assert response.status == 401, (method, path)
    assert list(await get(api, "/api/bootstrap")) == ["ep-t"]  # nothing changed


async def test_mlaas_bootstrap_lists_identities_and_servers(api: Api) -> None:
    assert await get(api, "/api/mlaas/bootstrap") == []
    await post_config(api, "ep-m1", config_for("ep-m1-id"))
    await post_config(api, "ep-m2", {
        "security": {"0": {"uri": "", "bootstrapServer": True, "securityMode": "NO_SEC"},
                     "1": {"uri": "", "securityMode": "NO_SEC", "serverId": 3}},
        "servers": {"0": {"shortId": 3}}})  # fmt: skip
    states = await get(api, "/api/mlaas/bootstrap")
    assert states == [
        {"endpoint": "ep-m1", "identity": "ep-m1-id", "servers": ["coaps://dm.example:5684"],
         "last_bootstrap": None, "last_result": None},
        {"endpoint": "ep-m2", "identity": None, "servers": ["(this server)"],
         "last_bootstrap": None, "last_result": None},
    ]  # fmt: skip


async def test_openapi_lists_the_bootstrap_routes(api: Api) -> None:
    paths = (await get(api, "/api/openapi.json"))["paths"]
    assert set(paths["/api/bootstrap"]) == {"get"}
    assert set(paths["/api/bootstrap/{ep}"]) == {"get", "post", "delete"}
    assert set(paths["/api/mlaas/bootstrap"]) == {"get"}
    assert paths["/api/bootstrap/{ep}"]["get"]["parameters"][0]["name"] == "ep"
    assert paths["/api/bootstrap/{ep}"]["post"]["summary"].startswith("Add or replace")
    assert paths["/api/bootstrap"]["get"]["summary"]
    assert paths["/api/mlaas/bootstrap"]["get"]["tags"] == ["mlaas"]
    assert paths["/api/bootstrap/{ep}"]["post"]["security"] == [{"bearer": []}]
    assert paths["/api/mlaas/bootstrap"]["get"]["security"] == [{"bearer": []}]


async def test_openapi_marks_bootstrap_reads_as_guarded(api: Api) -> None:
    paths = (await get(api, "/api/openapi.json"))["paths"]
    assert paths["/api/bootstrap"]["get"]["security"] == [{"bearer": []}]
    assert paths["/api/bootstrap/{ep}"]["get"]["security"] == [{"bearer": []}]


# a device bootstrapped from a config posted over REST
Factory = Callable[..., Awaitable[SimulatedDevice]]


@pytest.fixture
async def factory_device(service: MlaasService) -> AsyncIterator[Factory]:
    """`await factory_device(ep, identity, key)`: a device that knows only its bootstrap server
    (the service's CoAPs port) and starts, which bootstraps it."""
    started: list[SimulatedDevice] = []

    async def start(endpoint: str, identity: str, key: bytes) -> SimulatedDevice:
        device = SimulatedDevice(DeviceConfig(
            endpoint, server=f"coaps://127.0.0.1:{service.server.dtls_port}", bootstrap=True,
            psk_identity=identity, psk_key=key, task=""), service.server.model)  # fmt: skip
        started.append(device)
        await device.start(register_timeout=10)
        return device

    yield start
    for device in started:
        await device.stop()


async def test_a_device_bootstraps_from_a_posted_config(
    api: Api, service: MlaasService, factory_device: Factory
) -> None:
    bootstrap_uri = f"coaps://127.0.0.1:{service.server.dtls_port}"
    factory_key = bytes(range(100, 116))
    await post_config(api, "bs-api-1", {
        "toDelete": ["/0", "/1"],
        "security": {
            "0": {"uri": bootstrap_uri, "bootstrapServer": True, "securityMode": "PSK",
                  "publicKeyOrId": list(b"bs-api-1-factory"), "secretKey": list(factory_key)},
            "1": {"uri": "", "bootstrapServer": False, "securityMode": "PSK", "serverId": 9},
        },
        "servers": {"0": {"shortId": 9, "lifetime": 45, "binding": "U"}},
    })  # fmt: skip
    async with api.session.get("/api/security/clients/bs-api-1") as response:
        assert response.status == 404  # no DM credential until the first bootstrap

    device = await factory_device("bs-api-1", "bs-api-1-factory", factory_key)
    # the server reaches the device back over its new DTLS session (first thing: see
    # test_a_bootstrapped_device_keeps_its_dtls_connection)
    async with api.session.get("/api/clients/bs-api-1/3/0/2") as response:
        read = await response.json()
    assert read["success"] is True and read["content"]["value"] == "SN-bs-api-1"
    client = await get(api, "/api/clients/bs-api-1")
    assert client["secure"] is True and client["lifetime"] == 45
    credential = await get(api, "/api/security/clients/bs-api-1")
    assert credential["endpoint"] == "bs-api-1"
    details = credential["tls"]["details"]
    assert details["identity"] == "bs-api-1"
    assert re.fullmatch(r"[0-9a-f]{32}", details["key"]), details  # 16 bytes, generated
    assert bytes.fromhex(details["key"]) != factory_key
    account = dm_account(device.tree)
    assert account is not None
    assert (account.uri, account.identity, account.key) == (
        bootstrap_uri,
        b"bs-api-1",
        bytes.fromhex(details["key"]),
    )

    async def finished() -> bool:
        states = {s["endpoint"]: s for s in await get(api, "/api/mlaas/bootstrap")}
        return bool(states["bs-api-1"]["last_result"] == "finished")

    await wait_for(finished)
    state = (await get(api, "/api/mlaas/bootstrap"))[0]
    assert state["identity"] == "bs-api-1-factory"
    assert state["servers"] == ["(this server)"]
    assert isinstance(state["last_bootstrap"], float)


async def test_a_bootstrapped_device_keeps_its_dtls_connection(
    api: Api, service: MlaasService, factory_device: Factory
) -> None:
    await post_config(api, "bs-api-2", config_for("bs-api-2-factory", bytes(16), uri=""))
    config = await get(api, "/api/bootstrap/bs-api-2")
    config["security"]["1"].update(uri="", publicKeyOrId=[], secretKey=[])
    await post_config(api, "bs-api-2", config)
    await factory_device("bs-api-2", "bs-api-2-factory", bytes(16))
    gc.collect()  # what the collector does at some point anyway
    await asyncio.sleep(0.1)
    async with api.session.get("/api/clients/bs-api-2/3/0/2") as response:
        assert response.status == 200, await response.text()  # 504: the session is gone
        read = await response.json()
    assert read["success"] is True and read["content"]["value"] == "SN-bs-api-2"
