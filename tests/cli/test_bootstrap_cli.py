"""`mlaas bootstrap add/list/show/remove` in-process against a live service, as REST API
clients; and a factory device that bootstraps over DTLS from a config the CLI added. Errors are
one line and a non-zero exit; misuse is a click usage error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.core.nodes import SingleResource
from lwm2m_mlaas.server.security import BootstrapClaim
from lwm2m_mlaas.sim.accounts import bootstrap_account, dm_account
from lwm2m_mlaas.sim.device import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.bootstrap import bootstrap_result
from tests.helpers.service import answered, node_as, one_line

FACTORY_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


async def test_add_list_show_remove(mlaas: Any, service: MlaasService) -> None:
    assert json.loads((await mlaas("bootstrap", "list", "--json")).stdout) == []
    assert "0 bootstrap configurations" in (await mlaas("bootstrap", "list")).output

    added = await mlaas("bootstrap", "add", "cli-1", "--identity", "cli-1-factory",
                        "--key", FACTORY_KEY.hex())  # fmt: skip
    assert one_line(added) == "cli-1: bootstrap PSK identity cli-1-factory"
    # the DTLS handshake knows the factory credential, for /bs only
    assert service.server.credentials.find_dtls_psk(b"cli-1-factory") == (
        FACTORY_KEY,
        BootstrapClaim("cli-1"),
    )
    nosec = await mlaas("bootstrap", "add", "cli-2", "--nosec", "--lifetime", "90")
    assert one_line(nosec) == "cli-2: bootstrap NoSec"
    await mlaas("bootstrap", "add", "cli-3", "--identity", "cli-3-factory", "--key", "0f" * 16,
                "--server-uri", "coaps://dm.example:5684", "--dm-identity", "cli-3-dm",
                "--dm-key", "ab" * 16, "--lifetime", "60")  # fmt: skip

    listed = json.loads((await mlaas("bootstrap", "list", "--json")).stdout)
    assert listed == [
        {"endpoint": "cli-1", "identity": "cli-1-factory", "servers": ["(this server)"],
         "last_bootstrap": None, "last_result": None},
        {"endpoint": "cli-2", "identity": None, "servers": ["(this server)"],
         "last_bootstrap": None, "last_result": None},
        {"endpoint": "cli-3", "identity": "cli-3-factory",
         "servers": ["coaps://dm.example:5684"], "last_bootstrap": None, "last_result": None},
    ]  # fmt: skip
    table = (await mlaas("bootstrap", "list")).output
    assert "3 bootstrap configurations" in table
    assert "cli-1-factory" in table and "(NoSec)" in table and "never" in table
    assert FACTORY_KEY.hex()[:8] not in table  # keys are not listed

    shown = json.loads((await mlaas("bootstrap", "show", "cli-1")).stdout)
    assert shown["toDelete"] == ["/0", "/1"]
    bootstrap, dm = shown["security"]["0"], shown["security"]["1"]
    assert (bootstrap["uri"], bootstrap["bootstrapServer"], bootstrap["securityMode"]) == (
        "",
        True,
        "PSK",
    )
    assert bootstrap["publicKeyOrId"] == list(b"cli-1-factory")
    assert bootstrap["secretKey"] == list(FACTORY_KEY)
    assert (dm["uri"], dm["securityMode"], dm["serverId"]) == ("", "PSK", 1)
    assert dm["publicKeyOrId"] == [] and dm["secretKey"] == []  # generated at bootstrap
    assert shown["servers"] == {"0": {"shortId": 1, "lifetime": 300, "defaultMinPeriod": 1,
                                      "notifIfDisabled": True, "binding": "U"}}  # fmt: skip
    other = json.loads((await mlaas("bootstrap", "show", "cli-3")).stdout)
    assert other["security"]["1"]["publicKeyOrId"] == list(b"cli-3-dm")
    assert other["security"]["1"]["secretKey"] == [0xAB] * 16
    assert other["servers"]["0"]["lifetime"] == 60
    no_sec = json.loads((await mlaas("bootstrap", "show", "cli-2")).stdout)
    assert {e["securityMode"] for e in no_sec["security"].values()} == {"NO_SEC"}
    assert no_sec["servers"]["0"]["lifetime"] == 90

    removed = await mlaas("bootstrap", "remove", "cli-1")
    assert one_line(removed) == "cli-1: bootstrap configuration removed"
    with pytest.raises(KeyError):
        service.server.credentials.find_dtls_psk(b"cli-1-factory")
    listed = json.loads((await mlaas("bootstrap", "list", "--json")).stdout)
    assert [r["endpoint"] for r in listed] == ["cli-2", "cli-3"]


async def test_errors_are_one_line(mlaas: Any) -> None:
    unknown = await mlaas("bootstrap", "remove", "nobody", ok=False)
    assert unknown.exit_code == 1
    assert one_line(unknown) == "mlaas: HTTP 404: no config for nobody"
    missing = await mlaas("bootstrap", "show", "nobody", ok=False)
    assert missing.exit_code == 1
    assert one_line(missing) == "mlaas: HTTP 404: no config for nobody"
    too_long = await mlaas("bootstrap", "add", "cli-4", "--identity", "x", "--key", "00" * 17,
                           ok=False)  # fmt: skip
    assert too_long.exit_code == 1
    assert one_line(too_long).startswith(
        "mlaas: HTTP 400: Invalid request: security 0: PSK "
        "identities take at most 32 bytes and keys 16"
    )
    await mlaas("bootstrap", "add", "cli-5", "--identity", "cli-5-factory", "--key", "01")
    taken = await mlaas("bootstrap", "add", "cli-6", "--identity", "cli-5-factory", "--key",
                        "02", ok=False)  # fmt: skip
    assert taken.exit_code == 1
    assert "PSK identity 'cli-5-factory' is already used by endpoint 'cli-5'" in one_line(taken)
    assert [
        r["endpoint"] for r in json.loads((await mlaas("bootstrap", "list", "--json")).stdout)
    ] == ["cli-5"]


@pytest.mark.parametrize(("args", "message"), [
    (("--identity", "cli-7-factory"), "--identity and --key go together"),
    (("--key", "00" * 16), "--identity and --key go together"),
    (("--identity", "cli-7-factory", "--key", "not-hex"), "keys are given in hexadecimal"),
    (("--dm-key", "xyz"), "keys are given in hexadecimal"),
    (("--lifetime", "soon"), "'soon' is not a valid integer"),
])  # fmt: skip
async def test_usage_errors(mlaas: Any, service: MlaasService, args: tuple[str, ...],
                            message: str) -> None:  # fmt: skip
    refused = await mlaas("bootstrap", "add", "cli-7", *args, ok=False)
    assert refused.exit_code == 2
    assert message in refused.output
    assert refused.output.startswith("Usage: ")
    async with service.server.store.transaction() as tx:
        assert await tx.bootstrap.all() == []


@pytest.fixture
async def started() -> AsyncIterator[list[SimulatedDevice]]:
    devices: list[SimulatedDevice] = []
    yield devices
    for device in devices:
        await device.stop()


async def test_a_device_bootstraps_from_a_cli_config(
    mlaas: Any, service: MlaasService, started: list[SimulatedDevice]
) -> None:
    """`bootstrap add` without --server-uri: the empty uris stand for this server, the DM
    PSK is generated on the device's first contact."""
    await mlaas("bootstrap", "add", "cli-dev", "--identity", "cli-dev-factory",
                "--key", FACTORY_KEY.hex(), "--lifetime", "50")  # fmt: skip
    server = service.server
    bootstrap_uri = f"coaps://127.0.0.1:{server.dtls_port}"
    device = SimulatedDevice(DeviceConfig(
        "cli-dev", server=bootstrap_uri, bootstrap=True, psk_identity="cli-dev-factory",
        psk_key=FACTORY_KEY, task=""), server.model)  # fmt: skip
    started.append(device)
    await device.start(register_timeout=10)
    # the server reaches the device back over its new DTLS session (first thing: see
    # tests/api/test_bootstrap_api.py::test_a_bootstrapped_device_keeps_its_dtls_connection)
    read = answered(await server.read("cli-dev", "/3/0/2"))
    assert read.success and node_as(SingleResource, read).value == "SN-cli-dev"

    registration = server.registrations.by_endpoint("cli-dev")
    assert registration is not None and registration.secure
    assert registration.lifetime == 50
    account = dm_account(device.tree)
    assert account is not None
    assert account.uri == server.server_uri(True) == bootstrap_uri
    assert account.identity == b"cli-dev" and account.key is not None
    assert len(account.key) == 16 and account.key != FACTORY_KEY
    assert account.short_id == 1
    # the bootstrap account the device was built with is kept (its empty uri was filled in)
    kept = bootstrap_account(device.tree)
    assert kept is not None and kept.uri == bootstrap_uri
    assert (kept.identity, kept.key) == (b"cli-dev-factory", FACTORY_KEY)

    async def finished() -> bool:
        rows = json.loads((await mlaas("bootstrap", "list", "--json")).stdout)
        return bool(rows) and rows[0]["last_result"] == "finished"

    await wait_for(finished, timeout=10)
    credentials = json.loads((await mlaas("security", "list", "--json")).stdout)
    assert credentials == [{"endpoint": "cli-dev", "tls": {"mode": "psk", "details": {
        "identity": "cli-dev", "key": account.key.hex()}}}]  # fmt: skip


async def test_a_bootstrap_identity_named_like_its_endpoint(
    mlaas: Any, service: MlaasService, started: list[SimulatedDevice]
) -> None:
    """The DM identity the server picks then differs from the bootstrap one: "<ep>-dm"."""
    added = await mlaas("bootstrap", "add", "cli-same", "--identity", "cli-same",
                        "--key", FACTORY_KEY.hex())  # fmt: skip
    assert added.exit_code == 0
    device = SimulatedDevice(DeviceConfig(
        "cli-same", server=f"coaps://127.0.0.1:{service.server.dtls_port}", bootstrap=True,
        psk_identity="cli-same", psk_key=FACTORY_KEY, task=""), service.server.model)  # fmt: skip
    started.append(device)

    async def tried() -> bool:
        return await bootstrap_result(service.server, "cli-same") is not None

    starting = asyncio.create_task(device.start(register_timeout=10))
    try:
        await wait_for(tried, timeout=10)
        assert await bootstrap_result(service.server, "cli-same") == "finished"
        await starting
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
    assert service.server.registrations.by_endpoint("cli-same") is not None
    credential = service.server.credentials.of("cli-same")
    assert credential is not None and credential.identity == "cli-same-dm"
