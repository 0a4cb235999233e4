"""Leshan's /api/clients and /api/event over real HTTP, the way Zephyr's interop suite drives a
Leshan server: register a device, list it, read, write, execute, observe, de-register. Every
JSON shape is checked field by field against Leshan 2's demo server."""

from __future__ import annotations

import time
from typing import Any

from lwm2m_mlaas.sim import SimulatedDevice
from tests.helpers.service import Api, Devices

REGISTRATION_FIELDS = [
    "endpoint", "registrationId", "registrationDate", "lastUpdate", "address", "lwM2mVersion",
    "lifetime", "bindingMode", "rootPath", "objectLinks", "secure",
    "additionalRegistrationAttributes", "queuemode", "availableInstances",
]  # fmt: skip


def assert_registration(shaped: dict[str, Any], device: SimulatedDevice) -> None:
    config = device.config
    assert list(shaped) == REGISTRATION_FIELDS
    assert shaped["endpoint"] == config.endpoint
    assert device.location is not None
    assert shaped["registrationId"] == device.location.rsplit("/", 1)[-1]
    now = time.time() * 1000
    assert now - 60_000 < shaped["registrationDate"] <= shaped["lastUpdate"] <= now
    host, _, port = shaped["address"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert shaped["lwM2mVersion"] == "1.1"
    assert shaped["lifetime"] == config.lifetime and isinstance(shaped["lifetime"], int)
    assert shaped["bindingMode"] == "U"
    assert shaped["rootPath"] == "/lwm2m/"
    assert shaped["secure"] is False
    assert shaped["additionalRegistrationAttributes"] == {}
    assert shaped["queuemode"] is False
    links = {link["url"]: link["attributes"] for link in shaped["objectLinks"]}
    assert links["/lwm2m"] == {"rt": '"oma.lwm2m"', "ct": "11542"}
    assert links["/lwm2m/3/0"] == {}
    assert all(set(link) == {"url", "attributes"} for link in shaped["objectLinks"])
    instances = shaped["availableInstances"]
    assert instances["3"] == [0] and instances["5"] == [0] and instances["32100"] == [0]
    assert all(isinstance(i, int) for ids in instances.values() for i in ids)


async def test_register_read_write_execute_observe_deregister(
    api: Api, events: Any, devices: Devices
) -> None:
    async with events() as stream:
        device = await devices("zephyr-1", task="", registration_form="root-path")
        registered = await stream.next("REGISTRATION")
        assert_registration(registered, device)

        async with api.session.get("/api/clients") as response:
            assert response.status == 200
            listed = await response.json()
        (client,) = [c for c in listed if c["endpoint"] == "zephyr-1"]
        assert client == {**registered, "lastUpdate": client["lastUpdate"]}
        async with api.session.get("/api/clients/zephyr-1") as response:
            assert (await response.json())["registrationId"] == registered["registrationId"]

        # read the Device object, as Zephyr's test_LightweightM2M_1_1_int_1* do
        async with api.session.get("/api/clients/zephyr-1/3/0",
                                   params={"format": "TLV", "timeout": "5"}) as response:
            assert response.status == 200
            body = await response.json()
        assert list(body) == ["status", "valid", "success", "failure", "content"]
        assert body["status"] == "CONTENT(205)"
        assert (body["valid"], body["success"], body["failure"]) == (True, True, False)
        content = body["content"]
        assert set(content) == {"id", "kind", "resources"}
        assert (content["id"], content["kind"]) == (0, "instance")
        resources = {r["id"]: r for r in content["resources"]}
        assert resources[0] == {"id": 0, "kind": "singleResource", "type": "STRING",
                                "value": device.config.board.manufacturer}  # fmt: skip
        assert resources[2]["value"] == "SN-zephyr-1"
        assert resources[9] == {"id": 9, "kind": "singleResource", "type": "INTEGER",
                                "value": "100"}  # fmt: skip
        assert resources[11] == {"id": 11, "kind": "multiResource", "type": "INTEGER",
                                 "values": {"0": "0"}}  # fmt: skip
        assert resources[13]["type"] == "TIME" and isinstance(resources[13]["value"], int)
        assert abs(resources[13]["value"] - time.time() * 1000) < 60_000

        # write and read back, single resource with a string id as Zephyr sends it
        node = {"id": "14", "kind": "singleResource", "value": "+02:00", "type": "string"}
        async with api.session.put("/api/clients/zephyr-1/3/0/14", json=node,
                                   params={"format": "SENML_CBOR"}) as response:
            assert response.status == 200
            assert await response.json() == {"status": "CHANGED(204)", "valid": True,
                                             "success": True, "failure": False}  # fmt: skip
        for fmt in ("TEXT", "SENML_JSON", "SENML_CBOR", "TLV", "JSON"):
            async with api.session.get("/api/clients/zephyr-1/3/0/14",
                                       params={"format": fmt}) as response:
                body = await response.json()
            assert body["content"] == {"id": 14, "kind": "singleResource", "type": "STRING",
                                       "value": "+02:00"}, fmt  # fmt: skip

        # partial update of an instance, then replace
        update = {"id": 0, "kind": "instance", "resources": [
            {"id": 15, "kind": "singleResource", "type": "STRING", "value": "Europe/Oslo"}]}
        async with api.session.put("/api/clients/zephyr-1/3/0", json=update,
                                   params={"replace": "false"}) as response:
            assert (await response.json())["status"] == "CHANGED(204)"
        assert device.tree.get("/3/0/15") == "Europe/Oslo"
        assert device.tree.get("/3/0/14") == "+02:00"

        # execute: the registration update trigger makes the device send an Update
        async with api.session.post("/api/clients/zephyr-1/1/0/8") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "CHANGED(204)"
        updated = await stream.next("UPDATED")
        assert set(updated) == {"registration", "update"}
        assert updated["registration"]["endpoint"] == "zephyr-1"
        assert updated["update"]["registrationId"] == registered["registrationId"]
        assert set(updated["update"]) >= {"registrationId", "address", "secure",
                                          "additionalAttributes"}  # fmt: skip

        # observe the current time: notifications arrive on the event stream
        async with api.session.post("/api/clients/zephyr-1/3/0/13/observe",
                                    params={"format": "SENML_CBOR"}) as response:
            assert response.status == 200
            observed = await response.json()
        assert observed["status"] == "CONTENT(205)" and observed["success"] is True
        assert observed["content"]["id"] == 13 and observed["content"]["type"] == "TIME"
        notification = await stream.next("NOTIFICATION")
        assert set(notification) == {"ep", "kind", "res", "val"}
        assert notification["ep"] == "zephyr-1" and notification["kind"] == "single"
        assert notification["res"] == "/3/0/13"
        assert notification["val"]["kind"] == "singleResource"
        assert notification["val"]["value"] >= observed["content"]["value"]
        async with api.session.delete("/api/clients/zephyr-1/3/0/13/observe",
                                      params={"active": ""}) as response:
            assert response.status == 200
            assert (await response.json())["success"] is True
        async with api.session.delete("/api/clients/zephyr-1/3/0/13/observe") as response:
            assert response.status == 404
            assert await response.text() == "no observation for path /3/0/13 for client " \
                "'zephyr-1'"  # fmt: skip

        await device.stop()
        gone = await stream.next("DEREGISTRATION")
        assert gone["endpoint"] == "zephyr-1"
        assert gone["registrationId"] == registered["registrationId"]
    async with api.session.get("/api/clients/zephyr-1/3/0") as response:
        assert response.status == 400
        assert await response.text() == "No registered client with id 'zephyr-1'"
