"""The mlaas routes over real HTTP, against a device the service provisions end to end:
classes, models, artifacts (metadata and the signed package), deliveries, devices, the fleet
summary, operator assignments and PROVISIONING events."""

from __future__ import annotations

from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.package import verify_package
from lwm2m_mlaas.compiler.targets import load_catalogue
from tests.helpers import wait_for
from tests.helpers.service import Api, Devices, running, trust_key

pytestmark = pytest.mark.slow


async def get_json(api: Api, path: str, **params: str) -> Any:
    async with api.session.get(path, params=params) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


async def test_classes_and_models(api: Api) -> None:
    classes = await get_json(api, "/api/mlaas/classes")
    assert [c["name"] for c in classes] == list(load_catalogue())
    an386 = await get_json(api, "/api/mlaas/classes/mps2-an386")
    assert list(an386) == ["name", "board", "core", "clock_mhz", "ram_bytes", "ml_ram_bytes",
                           "ml_flash_bytes", "runtimes", "ops", "delivery"]  # fmt: skip
    assert an386["core"] == "cortex-m4f" and "CONV_2D" in an386["ops"]
    models = {m["name"]: m for m in await get_json(api, "/api/mlaas/models")}
    assert models["sine-s"]["built"] is True and models["sine-s"]["task"] == "sine"
    assert models["gesture-l"]["built"] is False  # not trained in this data dir
    sine = await get_json(api, "/api/mlaas/models/sine-s")
    assert sine["version"] == models["sine-s"]["version"] and sine["kind"] == "regression"
    async with api.session.get("/api/mlaas/models/gesture-l") as response:
        assert response.status == 404
        assert await response.json() == {"status": 404,
                                         "message": "model 'gesture-l' is unknown or not built"}


async def test_a_provisioned_device_seen_through_the_api(
    api: Api, events: Any, devices: Devices, service: MlaasService
) -> None:
    async with events(ep="ml-1") as stream:
        device = await devices("ml-1", "mps2-an386", task="sine", delivery="push")
        stages = []
        while "running" not in stages:
            provisioning = await stream.next("PROVISIONING", timeout=90)
            assert provisioning["ep"] == "ml-1"
            stages.append(provisioning["stage"])
    assert stages[:4] == ["queued", "reading", "classified", "compiled"] and "delivery" in stages
    await wait_for(lambda: running(service, device))

    (artifact,) = await get_json(api, "/api/mlaas/artifacts", **{"class": "mps2-an386"})
    assert artifact["task"] == "sine" and artifact["class"] == "mps2-an386"
    assert artifact["model"].startswith("sine-") and artifact["arena_bytes"] > 0
    assert await get_json(api, f"/api/mlaas/artifacts/{artifact['id']}") == artifact
    assert await get_json(api, "/api/mlaas/artifacts", task="gesture") == []
    async with api.session.get(f"/api/mlaas/artifacts/{artifact['id']}/package") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        package = await response.read()
    assert len(package) == artifact["package_bytes"]
    manifest, payload = verify_package(package, trust_key(service.config))
    assert manifest.model == artifact["model"] and len(payload) == artifact["model_bytes"]

    (delivery,) = await get_json(api, "/api/mlaas/deliveries", endpoint="ml-1")
    assert delivery["state"] == "succeeded" and delivery["mode"] == "push"
    assert delivery["artifact_id"] == artifact["id"] and delivery["result"] == 1
    assert await get_json(api, f"/api/mlaas/deliveries/{delivery['id']}") == delivery
    assert await get_json(api, "/api/mlaas/deliveries", active="true") == []
    async with api.session.post(f"/api/mlaas/deliveries/{delivery['id']}/cancel") as response:
        assert response.status == 409
        assert (await response.json())["message"] == \
            f"delivery {delivery['id']} is already succeeded"  # fmt: skip

    shown = await get_json(api, "/api/mlaas/devices/ml-1")
    assert shown["endpoint"] == "ml-1" and shown["awake"] is True
    assert shown["registration"]["endpoint"] == "ml-1"
    assert shown["provisioning"] == {
        "stage": "running", "class": "mps2-an386", "target": "sine", "model": artifact["model"],
        "artifact": artifact["id"], "arena_bytes": artifact["arena_bytes"], "backend": "tflm",
        "mode": "push", "reason": None}  # fmt: skip
    assert shown["deliveries"] == [delivery]
    listed = await get_json(api, "/api/mlaas/devices", stage="running")
    assert [d["endpoint"] for d in listed] == ["ml-1"]
    assert await get_json(api, "/api/mlaas/devices", **{"class": "nrf52840"}) == []

    fleet = await get_json(api, "/api/mlaas/fleet")
    assert fleet["devices"] == 1 and fleet["queue_mode"] == 0
    assert fleet["classes"] == {"mps2-an386": 1} and fleet["stages"] == {"running": 1}
    assert fleet["models"] == {artifact["model"]: 1}
    assert fleet["deliveries"] == {"succeeded": 1}


async def test_assignments(api: Api, anonymous: Api) -> None:
    assignment = {"scope": "class", "value": "nrf52840", "target": "sine"}
    async with api.session.put("/api/mlaas/assignments", json=assignment) as response:
        assert response.status == 200 and await response.json() == assignment
    assert await get_json(api, "/api/mlaas/assignments") == [assignment]
    unknown = {**assignment, "target": "weather"}
    async with api.session.put("/api/mlaas/assignments", json=unknown) as response:
        assert response.status == 400
        assert "'weather' is neither a zoo task nor a model" in (await response.json())["message"]
    async with anonymous.session.delete("/api/mlaas/assignments/class/nrf52840") as response:
        assert response.status == 401
    async with api.session.delete("/api/mlaas/assignments/class/nrf52840") as response:
        assert (await response.json())["removed"] is True
    async with api.session.delete("/api/mlaas/assignments/class/nrf52840") as response:
        assert response.status == 404
    assert await get_json(api, "/api/mlaas/assignments") == []
