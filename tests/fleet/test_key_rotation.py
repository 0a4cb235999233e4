"""Package signing key rotation end to end (real server, SQLite file, simulated devices over
CoAP on loopback): a device that takes trust statements learns the new key and gets packages
signed with it; one that does not keeps getting packages it can verify; a forged statement
changes nothing; a key is retired only once no device needs it; all of it survives a restart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.package import package_key_id, trust_statement
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE, Keyring, key_id, load_public_key
from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import Api, Devices, call, run_cli, running, until_state

pytestmark = pytest.mark.slow


def kid_of_installed(service: MlaasService, device: SimulatedDevice) -> str:
    """The key id in the header of the package the device reports running (/5/0/7)."""
    package = service.config.packages_dir / f"{device.tree.get('/5/0/7')!s}.pkg"
    kid = package_key_id(package.read_bytes())
    assert kid is not None
    return kid.hex()


def keys_by_id(listed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k["id"]: k for k in listed}


async def test_rotation_while_a_fleet_runs_strands_no_device(
    api: Api, devices: Devices, service: MlaasService, fleet_config: ServerConfig
) -> None:
    learner = await devices("learner", delivery="push")
    legacy = await devices("legacy", delivery="pull", trust_updates=False)
    await wait_for(lambda: running(service, learner) and running(service, legacy), timeout=120)
    (original,) = await call(api, "GET", "/api/mlaas/keys")
    assert original["active"] and original["retired"] is None and original["position"] == 0
    assert (original["trusted_by"], original["needed_by"]) == (2, 2)
    assert kid_of_installed(service, learner) == kid_of_installed(service, legacy) == \
        original["id"]  # fmt: skip

    new = await call(api, "POST", "/api/mlaas/keys/rotate", status=201)
    assert new["active"] and new["position"] == 1
    trust = service.deliveries.trust
    await wait_for(lambda: new["id"] in trust.trusted("learner"), timeout=15)
    assert learner.tree.get("/32100/0/9") == {0: original["id"], 1: new["id"]}
    assert legacy.tree.get("/32100/0/9") == {0: original["id"]}
    assert trust.trusted("legacy") == (original["id"],)
    listed = keys_by_id(await call(api, "GET", "/api/mlaas/keys"))
    assert [listed[original["id"]]["active"], listed[new["id"]]["active"]] == [False, True]
    assert (listed[new["id"]]["trusted_by"], listed[new["id"]]["needed_by"]) == (1, 0)
    assert (listed[original["id"]]["trusted_by"], listed[original["id"]]["needed_by"]) == (2, 1)

    # a statement signed by a key the device does not trust: refused (4.00), nothing changes
    stranger = Keyring(fleet_config.data_dir / "stranger-keys").signer()
    forged = trust_statement(stranger.public_key, stranger).hex()
    async with api.session.put("/api/clients/learner/32100/0/10", json={
            "id": 10, "kind": "singleResource", "type": "OPAQUE", "value": forged}) as response:
        answer = await response.json()
    assert answer["status"] == "BAD_REQUEST(400)" and answer["failure"] is True
    assert "trust statement refused" in answer["errormessage"]
    assert learner.tree.get("/32100/0/9") == {0: original["id"], 1: new["id"]}
    assert set(learner.ml.trusted) == {bytes.fromhex(original["id"]), bytes.fromhex(new["id"])}

    # the next package: signed with the newest key each device trusts, and both install it
    target = "sine-s" if service.provisioning.status["learner"].model != "sine-s" else "sine-m"
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": target, "selector": {"class": "mps2-an386"}, "canary": 0}, status=201)
    done = await until_state(api, created["id"], "completed", "paused")
    assert done["counts"] == {"succeeded": 2}, done
    assert kid_of_installed(service, learner) == new["id"]
    assert kid_of_installed(service, legacy) == original["id"]
    assert learner.tree.get("/32101/0/0") == legacy.tree.get("/32101/0/0") == target
    artifact = done["members"][0]["artifact"]
    async with service.server.store.transaction() as tx:
        signed = {p.key_id: p.id for p in await tx.keys.packages(artifact)}
    assert signed == {new["id"]: learner.tree.get("/5/0/7"),
                      original["id"]: legacy.tree.get("/5/0/7")}  # fmt: skip

    # retiring: never the active key, not while a device trusts no other key
    refused = await call(api, "POST", f"/api/mlaas/keys/{original['id']}/retire", status=409)
    assert "1 device(s) trust no other key in use: legacy" in refused["message"]
    refused = await call(api, "POST", f"/api/mlaas/keys/{new['id']}/retire", status=409)
    assert "is the active key" in refused["message"]
    await call(api, "POST", "/api/mlaas/keys/00112233aabbccdd/retire", status=404)
    await call(api, "POST", f"/api/mlaas/keys/{original['id']}/retire?force=maybe", status=400)

    # the legacy device is reflashed with firmware that trusts the new key
    await legacy.stop()
    reflashed = SimulatedDevice(replace(legacy.config, trust_key=bytes.fromhex(
        listed[new["id"]]["public_key"])), service.server.model)  # fmt: skip
    await reflashed.start()
    try:
        await wait_for(lambda: trust.trusted("legacy") == (new["id"],), timeout=15)
        await wait_for(lambda: running(service, reflashed) and bool(reflashed.tree.get("/5/0/7")),
                       timeout=60)  # fmt: skip
        assert kid_of_installed(service, reflashed) == new["id"]
        retired = await call(api, "POST", f"/api/mlaas/keys/{original['id']}/retire")
        assert retired["retired"] is not None and retired["needed_by"] == 0
        devices_key = load_public_key(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE)
        assert key_id(devices_key).hex() == new["id"]  # new devices are built with it now
        refused = await call(api, "POST", f"/api/mlaas/keys/{original['id']}/retire",
                             status=409)  # fmt: skip
        assert "already retired" in refused["message"]
    finally:
        await reflashed.stop()


async def test_keys_and_trust_survive_a_restart_through_the_cli(
    fleet_config: ServerConfig, tmp_path: Path
) -> None:
    first = MlaasService(fleet_config)
    await first.start()
    known = Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE
    sims = [  # asking for no model: nothing is compiled, what they trust is recorded
        SimulatedDevice(replace(DeviceConfig(name, server=f"coap://127.0.0.1:{first.server.port}"),
                                board=BOARDS["mps2-an386"], task="no-such-task",
                                trust_key=known.read_bytes(),
                                reports_trusted_keys=name == "keeper"), first.server.model)
        for name in ("keeper", "silent")
    ]
    trust = first.deliveries.trust
    try:
        for sim in sims:
            await sim.start()
        await wait_for(lambda: all(first.provisioning.status.get(e) is not None
                                   and first.provisioning.status[e].stage == "failed"
                                   for e in ("keeper", "silent")))  # fmt: skip
        (original,) = json.loads((await run_cli(first, "keys", "list", "--json")).stdout)
        assert (original["trusted_by"], original["needed_by"]) == (2, 2)
        rotated = (await run_cli(first, "keys", "rotate")).output
        new = Keyring(Layout(fleet_config.data_dir).keys).active.key_id.hex()
        assert rotated.startswith(f"key {new} is active")
        await wait_for(lambda: new in trust.trusted("keeper"), timeout=15)
        assert trust.trusted("silent") == (original["id"],)  # it does not say: original only
        refused = await run_cli(first, "keys", "retire", original["id"], ok=False)
        assert "HTTP 409: 1 device(s) trust no other key in use: silent" in refused.output
        forced = await run_cli(first, "keys", "retire", original["id"], "--force")
        assert f"key {original['id']} retired" in forced.output
        assert trust.usable("silent") == []  # stranded: nothing may sign its packages
    finally:
        for sim in sims:
            await sim.stop()
        await first.stop()

    async with MlaasService(fleet_config) as second:
        listed = keys_by_id(json.loads((await run_cli(second, "keys", "list", "--json")).stdout))
        assert list(listed) == [original["id"], new]
        assert listed[original["id"]]["retired"] is not None
        assert listed[new]["active"] and listed[new]["trusted_by"] == 1
        kept = second.deliveries.trust
        assert kept.trusted("keeper") == tuple(sorted([original["id"], new]))
        assert kept.trusted("silent") == (original["id"],) and kept.usable("silent") == []
        table = (await run_cli(second, "keys", "list")).output
        assert "2 signing keys" in table and "retired" in table and "active" in table
        refused = await run_cli(second, "keys", "retire", new, ok=False)
        assert "is the active key" in refused.output
