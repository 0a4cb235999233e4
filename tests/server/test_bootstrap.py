"""The bootstrap server over real DTLS: a simulated device with only a factory bootstrap PSK
asks /bs, receives its LwM2M server account with a PSK generated on first contact, and then
registers over DTLS with it. Also the refusals: wrong keys, another endpoint's identity, the
bootstrap credential at /rd, NoSec where a PSK is due, and unknown endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.bootstrap import BootstrapConfig
from lwm2m_mlaas.core.nodes import SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.server import Lwm2mServer, build_server
from lwm2m_mlaas.sim.accounts import dm_account
from lwm2m_mlaas.sim.device import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.bootstrap import bootstrap_result
from tests.helpers.service import answered, node_as

FACTORY_KEY = bytes(range(16))


def psk_config(server: Lwm2mServer, identity: str, key: bytes = FACTORY_KEY, *,
               dm: dict[str, Any] | None = None, lifetime: int = 40) -> dict[str, Any]:  # fmt: skip
    """Leshan's BootstrapConfig JSON: a PSK bootstrap account (this server) and one DM account
    (this server, its PSK left to be generated)."""
    bootstrap_uri = f"coaps://127.0.0.1:{server.dtls_port}"
    return {
        "toDelete": ["/0", "/1"],
        "security": {
            "0": {"uri": bootstrap_uri, "bootstrapServer": True, "securityMode": "PSK",
                  "publicKeyOrId": list(identity.encode()), "secretKey": list(key)},
            "1": {"uri": "", "bootstrapServer": False, "securityMode": "PSK", "serverId": 7,
                  **(dm or {})},
        },
        "servers": {"0": {"shortId": 7, "lifetime": lifetime, "binding": "U"}},
    }  # fmt: skip


async def put_config(server: Lwm2mServer, endpoint: str, data: dict[str, Any]) -> None:
    config = BootstrapConfig.from_json(data)
    async with server.store.transaction() as tx:
        await tx.bootstrap.put(endpoint, config)
    server.credentials.put_bootstrap(endpoint, config.bootstrap_psk())


Factory = Callable[..., Awaitable[SimulatedDevice]]


@pytest.fixture
async def factory_device(server: Lwm2mServer) -> AsyncIterator[Factory]:
    """`await factory_device(ep, identity=, key=)`: a device that knows only its bootstrap
    server (this server's CoAPs port) and starts, which bootstraps it."""
    started: list[SimulatedDevice] = []

    async def start(endpoint: str, identity: str | None = None, key: bytes | None = FACTORY_KEY,
                    secure: bool = True, timeout: float = 10.0) -> SimulatedDevice:  # fmt: skip
        uri = (f"coaps://127.0.0.1:{server.dtls_port}" if secure
               else f"coap://127.0.0.1:{server.port}")  # fmt: skip
        device = SimulatedDevice(DeviceConfig(
            endpoint, server=uri, bootstrap=True, psk_identity=identity if secure else None,
            psk_key=key if secure else None), server.model)  # fmt: skip
        started.append(device)
        await device.start(register_timeout=timeout)
        return device

    yield start
    for device in started:
        await device.stop()


async def test_factory_device_bootstraps_then_registers_over_dtls(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    await put_config(server, "bs-1", psk_config(server, "bs-1-factory"))
    device = await factory_device("bs-1", "bs-1-factory")
    registration = server.registrations.by_endpoint("bs-1")
    assert registration is not None and registration.secure
    assert registration.lifetime == 40
    async with server.store.transaction() as tx:
        generated = await tx.security.get("bs-1")
    assert generated is not None
    assert generated.identity == "bs-1" and len(generated.key) == 16
    assert generated.key != FACTORY_KEY
    account = dm_account(device.tree)
    assert account is not None
    assert account.uri == f"coaps://127.0.0.1:{server.dtls_port}"
    assert (account.identity, account.key) == (b"bs-1", generated.key)
    assert account.short_id == 7
    # the bootstrap account stays, the DM account and its Server instance were written
    assert device.tree.data[0][0][1] is True
    assert device.tree.data[1][0][0] == 7
    read = answered(await server.read("bs-1", "/3/0/2"))
    assert read.success and node_as(SingleResource, read).value == "SN-bs-1"
    assert await bootstrap_result(server, "bs-1") == "finished"
    assert [(m.method, m.path) for m in device.messages] == [
        ("DELETE", "/0"), ("DELETE", "/1"), ("PUT", "/0/0"), ("PUT", "/0/1"), ("PUT", "/1/0"),
        ("POST", "/bs"), ("GET", "/3/0/2")]  # fmt: skip


async def test_second_bootstrap_keeps_the_generated_key(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    await put_config(server, "bs-2", psk_config(server, "bs-2-factory"))
    first = await factory_device("bs-2", "bs-2-factory")
    first_account = dm_account(first.tree)
    await first.stop()
    second = await factory_device("bs-2", "bs-2-factory")
    assert dm_account(second.tree) == first_account
    assert server.registrations.by_endpoint("bs-2") is not None


async def test_explicit_dm_psk_is_written_and_accepted(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    dm = {"publicKeyOrId": list(b"bs-3-dm"), "secretKey": list(b"operator-chosen!")}
    await put_config(server, "bs-3", psk_config(server, "bs-3-factory", dm=dm))
    device = await factory_device("bs-3", "bs-3-factory")
    assert server.registrations.by_endpoint("bs-3") is not None
    credential, account = server.credentials.of("bs-3"), dm_account(device.tree)
    assert credential is not None
    assert credential.key == b"operator-chosen!"
    assert account is not None and account.identity == b"bs-3-dm"


async def test_stale_accounts_are_deleted_before_the_writes(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    """Bootstrap-Delete of /0 and /1 leaves the bootstrap account; a former DM account goes."""
    await put_config(server, "bs-4", psk_config(server, "bs-4-factory"))
    device = await factory_device("bs-4", "bs-4-factory")
    device.tree.set("/0/9/0", "coaps://old.example")
    device.tree.set("/0/9/1", False)
    await device.bootstrap()
    assert sorted(device.tree.data[0]) == [0, 1]
    assert sorted(device.tree.data[1]) == [0]


async def test_wrong_factory_key_never_bootstraps(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    await put_config(server, "bs-5", psk_config(server, "bs-5-factory"))
    with pytest.raises((TimeoutError, aiocoap.error.Error, RuntimeError)):
        await factory_device("bs-5", "bs-5-factory", key=b"not-the-real-key", timeout=3.0)
    assert await bootstrap_result(server, "bs-5") is None
    assert server.credentials.of("bs-5") is None


async def test_bootstrap_identity_of_another_endpoint_is_forbidden(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    await put_config(server, "bs-6", psk_config(server, "bs-6-factory"))
    await put_config(server, "bs-7", psk_config(server, "bs-7-factory", bytes(16)))
    with pytest.raises(RuntimeError, match=r"4\.03"):
        await factory_device("bs-7", "bs-6-factory")
    assert await bootstrap_result(server, "bs-7") is None


async def test_bootstrap_credential_cannot_register(server: Lwm2mServer) -> None:
    await put_config(server, "bs-8", psk_config(server, "bs-8-factory"))
    context = await aiocoap.Context.create_client_context(transports=["tinydtls"])
    base = f"coaps://127.0.0.1:{server.dtls_port}"
    context.client_credentials.load_from_dict({f"{base}/*": {"dtls": {
        "psk": FACTORY_KEY, "client-identity": b"bs-8-factory"}}})  # fmt: skip
    try:
        answer = await context.request(
            aiocoap.Message(code=Code.POST, uri=f"{base}/rd?ep=bs-8", payload=b"</3/0>")
        ).response
    finally:
        await context.shutdown()
    assert answer.code == Code.FORBIDDEN
    assert b"bootstrap" in answer.payload
    assert server.registrations.by_endpoint("bs-8") is None


@pytest.mark.parametrize(("query", "code", "says"), [
    (("ep=bs-9",), Code.FORBIDDEN, b"must bootstrap over DTLS"),
    (("ep=nobody",), Code.BAD_REQUEST, b"no bootstrap config"),
    ((), Code.BAD_REQUEST, b"ep="),
    (("ep=bs-9", "pct=cbor"), Code.BAD_REQUEST, b"pct"),
])  # fmt: skip
async def test_nosec_bootstrap_requests_refused(
    server: Lwm2mServer, query: tuple[str, ...], code: Code, says: bytes
) -> None:
    await put_config(server, "bs-9", psk_config(server, "bs-9-factory"))
    context = await aiocoap.Context.create_client_context()
    try:
        msg = aiocoap.Message(code=Code.POST, uri=f"coap://127.0.0.1:{server.port}/bs")
        msg.opt.uri_query = query
        answer = await context.request(msg).response
    finally:
        await context.shutdown()
    assert answer.code == code
    assert says in answer.payload
    assert await bootstrap_result(server, "bs-9") is None


async def test_nosec_bootstrap_to_a_nosec_server(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    """Without any PSK in the config the device bootstraps and registers over NoSec; the empty
    uris stand for this server."""
    await put_config(server, "bs-10", {
        "security": {"0": {"uri": "", "bootstrapServer": True, "securityMode": "NO_SEC"},
                     "1": {"uri": "", "securityMode": "NO_SEC", "serverId": 3}},
        "servers": {"0": {"shortId": 3, "lifetime": 33}}})  # fmt: skip
    device = await factory_device("bs-10", secure=False)
    registration = server.registrations.by_endpoint("bs-10")
    assert registration is not None and not registration.secure
    assert registration.lifetime == 33
    assert not device.secure
    assert device.tree.data[0][1][0] == f"coap://127.0.0.1:{server.port}"


async def test_a_device_whose_credentials_are_revoked_bootstraps_again(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    """Revoking its DM PSK makes the device's next update fail (even over the DTLS session it
    still has); it bootstraps, gets a new key and registers again."""
    await put_config(server, "bs-11", psk_config(server, "bs-11-factory", lifetime=13))
    device = await factory_device("bs-11", "bs-11-factory")
    old = dm_account(device.tree)
    assert old is not None
    async with server.store.transaction() as tx:
        await tx.security.remove("bs-11")
    server.credentials.remove("bs-11")
    device.tree.execute(Lwm2mPath.parse("/1/0/8"), "")

    def new_key() -> bool:
        account = dm_account(device.tree)
        return account is not None and account.key != old.key

    await wait_for(new_key, timeout=30)
    await wait_for(lambda: server.registrations.by_endpoint("bs-11") is not None, timeout=30)
    credential, account = server.credentials.of("bs-11"), dm_account(device.tree)
    assert credential is not None and account is not None and credential.key == account.key


async def test_bootstrap_credentials_survive_a_restart(server_config: ServerConfig) -> None:
    config = replace(server_config, coaps_port=0)
    async with build_server(config) as first:
        await put_config(first, "bs-12", psk_config(first, "bs-12-factory"))
    async with build_server(config) as second:
        device = SimulatedDevice(DeviceConfig(
            "bs-12", server=f"coaps://127.0.0.1:{second.dtls_port}", bootstrap=True,
            psk_identity="bs-12-factory", psk_key=FACTORY_KEY), second.model)  # fmt: skip
        try:
            await device.start(register_timeout=10)
            assert second.registrations.by_endpoint("bs-12") is not None
        finally:
            await device.stop()


async def test_bootstrap_to_oscore_with_a_generated_context(
    server: Lwm2mServer, factory_device: Factory
) -> None:
    """An account on this server protected by OSCORE (/0/x/17 -> /21/y) whose master secret
    the config leaves empty: the server generates the context, stores it as the endpoint's
    credentials and writes it; the device then registers over OSCORE."""
    config = psk_config(server, "bs-13-factory")
    config["security"]["1"] = {"uri": "", "securityMode": "NO_SEC", "serverId": 7,
                               "oscoreSecurityMode": 0}  # fmt: skip
    config["oscore"] = {"0": {}}
    config["toDelete"] = ["/0", "/1", "/21"]
    await put_config(server, "bs-13", config)
    device = await factory_device("bs-13", "bs-13-factory")
    registration = server.registrations.by_endpoint("bs-13")
    assert registration is not None and registration.secure
    stored = server.credentials.oscore_context("bs-13")
    assert stored is not None
    account = dm_account(device.tree)
    assert account is not None and account.oscore is not None
    assert account.uri == f"coap://127.0.0.1:{server.port}"
    assert account.oscore.sender_id == stored.recipient_id
    assert len(account.oscore.master_secret) == 16
    assert answered(await server.read("bs-13", "/3/0/2")).success
    assert server.credentials.of("bs-13") is None  # OSCORE instead of a PSK
