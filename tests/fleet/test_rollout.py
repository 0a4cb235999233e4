"""Staged rollouts end to end through the REST API, with simulated fleets: a clean rollout with
a canary and waves (devices that register meanwhile join), a failure threshold that pauses it,
resume, abort, rollback, tags in selectors, one rollout per device."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.compiler.targets import load_catalogue
from lwm2m_mlaas.sim import SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import Api, Devices, call, provisioned, until_state

pytestmark = pytest.mark.slow


async def fleet(devices: Devices, service: MlaasService, names: list[str],
                **options: Any) -> list[SimulatedDevice]:  # fmt: skip
    return await provisioned(devices, service, *names, delivery="push", **options)


def installed(device: SimulatedDevice) -> object:
    return device.tree.get("/5/0/7")


def new_variant(service: MlaasService, device: SimulatedDevice) -> str:
    status = service.provisioning.status[device.config.endpoint]
    assert status.model is not None
    return next(v for v in ("sine-s", "sine-m", "sine-l") if v != status.model)


async def test_a_clean_rollout_over_50_devices(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    names = [f"fleet-{n:02d}" for n in range(50)]
    first = await fleet(devices, service, names[:45])
    before = {installed(d) for d in first}
    assert len(before) == 1
    target = new_variant(service, first[0])
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": target, "selector": {"task": "sine", "class": "mps2-an386"}, "canary": 2,
        "waves": [50, 100], "max_concurrent": 8, "failure_threshold": 0.1}, status=201)
    assert created["state"] == "running" and created["devices"] == 45
    assert [w["planned"] for w in created["waves"]] == [2, 22, 21]
    assert [m["wave"] for m in created["members"][:3]] == [0, 0, 1]
    late = await fleet(devices, service, names[45:])  # register meanwhile: they join
    done = await until_state(api, created["id"], "completed", "paused")
    assert done["state"] == "completed", done["reason"]
    assert done["devices"] == 50 and done["counts"] == {"succeeded": 50}
    after = {installed(d) for d in first + late}
    assert len(after) == 1 and after != before
    (artifact,) = after
    assert all(m["artifact"] == artifact for m in done["members"])
    previous = {m["endpoint"]: m["previous_artifact"] for m in done["members"]}
    assert all(previous[n] in before for n in names[:45])
    assert all(previous[n] is None for n in names[45:])  # they joined before any model
    assert all(service.provisioning.status[n].model == target for n in names)
    assert (await call(api, "GET", "/api/mlaas/fleet"))["models"] == {target: 50}
    # a device that registers again keeps the rolled-out model
    registration = service.server.registrations.by_endpoint("fleet-00")
    assert registration is not None
    assert await service.provisioning.choose(registration, _class(service), "sine") == target


def _class(service: MlaasService) -> Any:
    return load_catalogue()["mps2-an386"]


async def test_failures_pause_it_and_resume_carries_on(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    group = await fleet(devices, service, ["a-bad", "b-good", "c-good", "d-good"])
    group[0].config = replace(group[0].config, corrupt_fraction=1.0)  # integrity failures
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": new_variant(service, group[0]), "selector": {"endpoint": "?-*"},
        "canary": 1, "failure_threshold": 0.3}, status=201)
    paused = await until_state(api, created["id"], "paused", timeout=60)
    assert paused["reason"] == "1 of 1 devices failed, more than 30%"
    (bad,) = [m for m in paused["members"] if m["endpoint"] == "a-bad"]
    assert bad["state"] == "failed" and "integrity" in bad["reason"]
    assert paused["counts"] == {"failed": 1, "pending": 3}  # the canary stopped the waves
    await call(api, "POST", f"/api/mlaas/rollouts/{created['id']}/pause", status=409)
    await call(api, "POST", f"/api/mlaas/rollouts/{created['id']}/resume")
    done = await until_state(api, created["id"], "completed", "paused")
    assert done["state"] == "completed"
    assert done["counts"] == {"failed": 1, "succeeded": 3}
    assert installed(group[0]) != installed(group[1])


async def test_abort_stops_the_rollout(api: Api, devices: Devices, service: MlaasService) -> None:
    group = await fleet(devices, service, [f"ab-{n}" for n in range(5)], block_size=64)
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": new_variant(service, group[0]), "selector": {"endpoint": "ab-*"},
        "canary": 0, "max_concurrent": 1}, status=201)
    await wait_for(lambda: any(m.path == "/5/0/0" for m in group[0].messages), timeout=30)
    aborted = await call(api, "POST", f"/api/mlaas/rollouts/{created['id']}/abort")
    assert aborted["state"] == "aborted" and "pending" not in aborted["counts"]
    assert aborted["counts"].get("skipped", 0) >= 3
    await call(api, "POST", f"/api/mlaas/rollouts/{created['id']}/resume", status=409)
    before = {installed(d) for d in group[1:]}
    assert len(before) == 1  # nobody else got the new model


async def test_rollback_returns_every_device_to_its_earlier_model(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    group = await fleet(devices, service, [f"rb-{n}" for n in range(4)])
    before = installed(group[0])
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": new_variant(service, group[0]), "selector": {"endpoint": "rb-*"}},
        status=201)  # fmt: skip
    await until_state(api, created["id"], "completed")
    assert {installed(d) for d in group} != {before}
    rolling = await call(api, "POST", f"/api/mlaas/rollouts/{created['id']}/rollback")
    assert rolling["state"] == "rolling_back"
    done = await until_state(api, created["id"], "rolled_back", timeout=60)
    assert done["counts"] == {"rolled_back": 4}
    await wait_for(lambda: all(installed(d) == before for d in group), timeout=30)
    registration = service.server.registrations.by_endpoint("rb-0")
    assert registration is not None
    chosen = await service.provisioning.choose(registration, _class(service), "sine")
    assert chosen == "sine"  # the rolled-back model is no longer the device's


async def test_tags_select_and_a_device_is_in_one_rollout_at_a_time(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    group = await fleet(devices, service, ["t-1", "t-2", "t-3"], block_size=64)
    assert await call(api, "PUT", "/api/mlaas/devices/t-1/tags", ["eu", "beta"]) == ["beta", "eu"]
    assert await call(api, "POST", "/api/mlaas/devices/t-2/tags/beta") == ["beta"]
    assert await call(api, "GET", "/api/mlaas/devices/t-1/tags") == ["beta", "eu"]
    listed = await call(api, "GET", "/api/mlaas/devices?tag=beta")
    assert [d["endpoint"] for d in listed] == ["t-1", "t-2"]
    assert listed[0]["tags"] == ["beta", "eu"] and listed[0]["class"] == "mps2-an386"
    target = new_variant(service, group[0])
    first = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": target, "selector": {"tag": "beta"}, "max_concurrent": 1}, status=201)
    assert {m["endpoint"] for m in first["members"]} == {"t-1", "t-2"}
    second = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": target, "selector": {"endpoint": "t-*"}}, status=201)
    states = {m["endpoint"]: (m["state"], m["reason"]) for m in second["members"]}
    assert states["t-1"] == ("skipped", f"in rollout {first['id']}")
    assert states["t-3"][0] == "pending"
    await until_state(api, first["id"], "completed")
    await until_state(api, second["id"], "completed")
    assert await call(api, "DELETE", "/api/mlaas/devices/t-1/tags/eu") == ["beta"]
    listed_rollouts = await call(api, "GET", "/api/mlaas/rollouts", None)
    assert [r["id"] for r in listed_rollouts] == [first["id"], second["id"]]


async def test_bad_rollouts_are_refused(api: Api, devices: Devices, service: MlaasService) -> None:
    await fleet(devices, service, ["x-1"])
    for body, message in (
        ({"target": "weather"}, "neither a zoo task nor a model"),
        ({"target": "sine", "selector": {"colour": "red"}}, "unknown selector key"),
        ({"target": "sine", "selector": {"endpoint": "nobody-*"}}, "no known device matches"),
        ({"target": "sine", "waves": [50, 20]}, "must increase"),
        ({"target": "sine", "failure_threshold": 2}, "failure_threshold"),
        ({"target": "sine", "max_concurrent": 0}, "max_concurrent"),
        ({"selector": {}}, "'target'"),
    ):
        answer = await call(api, "POST", "/api/mlaas/rollouts", body, status=400)
        assert message in answer["message"], (body, answer)
    await call(api, "GET", "/api/mlaas/rollouts/99", status=404)
    await call(api, "POST", "/api/mlaas/rollouts/99/pause", status=404)


async def test_an_offline_device_is_delivered_to_when_it_returns(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    group = await fleet(devices, service, ["off-1", "off-2", "off-3"])
    await group[2].stop()  # de-registers: known, but away
    await wait_for(lambda: service.server.registrations.by_endpoint("off-3") is None)
    created = await call(api, "POST", "/api/mlaas/rollouts", {
        "target": new_variant(service, group[0]), "selector": {"endpoint": "off-*"},
        "canary": 1}, status=201)  # fmt: skip
    assert created["devices"] == 3

    async def two_done() -> bool:
        status = await call(api, "GET", f"/api/mlaas/rollouts/{created['id']}")
        return bool(status["counts"] == {"succeeded": 2, "pending": 1})

    await wait_for(two_done, timeout=60, interval=0.2)
    assert (await call(api, "GET", f"/api/mlaas/rollouts/{created['id']}"))["state"] == "running"
    back = await devices("off-3", "mps2-an386", task="sine", delivery="push")
    done = await until_state(api, created["id"], "completed", "paused")
    assert done["counts"] == {"succeeded": 3}
    assert installed(back) == installed(group[0])


async def test_sim_integrity_failures_trip_the_threshold(
    api: Api, devices: Devices, service: MlaasService, fleet_config: Any
) -> None:
    """Devices run by `mlaas sim --fail integrity:1.0` refuse every package."""
    good = await fleet(devices, service, ["z-good-1", "z-good-2"])
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_mlaas.cli.main", "sim", "--server",
        f"coap://127.0.0.1:{service.server.port}", "--devices", "2", "--prefix", "bad",
        "--class", "mps2-an386", "--task", "sine", "--fail", "integrity:1.0",
        "--trust-key", str(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE),
        "--duration", "120", stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
    try:
        await wait_for(lambda: all(service.server.registrations.by_endpoint(e) is not None
                                   and service.provisioning.status.get(e) is not None
                                   and service.provisioning.status[e].stage == "failed"
                                   for e in ("bad-0001", "bad-0002")), timeout=60)  # fmt: skip
        created = await call(api, "POST", "/api/mlaas/rollouts", {
            "target": new_variant(service, good[0]), "selector": {"task": "sine"},
            "canary": 1, "failure_threshold": 0.25}, status=201)  # fmt: skip
        assert created["members"][0]["endpoint"] == "bad-0001"  # the canary
        paused = await until_state(api, created["id"], "paused", timeout=60)
        assert paused["reason"] == "1 of 1 devices failed, more than 25%"
        assert paused["counts"] == {"failed": 1, "pending": 3}
        assert all(service.provisioning.status[d.config.endpoint].stage == "running"
                   for d in good)  # fmt: skip
    finally:
        sim.terminate()
        await sim.wait()


async def test_operator_tags_drive_assignments(
    api: Api, devices: Devices, service: MlaasService
) -> None:
    (device,) = await fleet(devices, service, ["tagged-1"])
    await call(api, "POST", "/api/mlaas/devices/tagged-1/tags/lab")
    await call(api, "PUT", "/api/mlaas/assignments",
               {"scope": "tag", "value": "lab", "target": "sine-s"})  # fmt: skip
    registration = service.server.registrations.by_endpoint("tagged-1")
    assert registration is not None
    assert await service.provisioning.choose(registration, _class(service), "sine") == "sine-s"
    await call(api, "DELETE", "/api/mlaas/devices/tagged-1/tags/lab")
    assert await service.provisioning.choose(registration, _class(service), "sine") == "sine"
    assert device.config.endpoint == "tagged-1"
