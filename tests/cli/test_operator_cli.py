"""The operator commands in-process against a live service, as REST API clients: devices,
passthrough read/write/exec/observe, models, classes, deliveries and rollouts. Errors are one
line and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from click.testing import CliRunner

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.cli.main import cli
from tests.helpers import MLPERF_TINY, wait_for
from tests.helpers.service import Devices, provisioned

pytestmark = pytest.mark.slow


async def test_devices_and_passthrough(mlaas: Any, devices: Devices,
                                       service: MlaasService) -> None:  # fmt: skip
    await provisioned(devices, service, "op-1", "op-2")
    listed = json.loads((await mlaas("devices", "list", "--json")).stdout)
    assert [d["endpoint"] for d in listed] == ["op-1", "op-2"]
    assert listed[0]["class"] == "mps2-an386" and listed[0]["provisioning"]["stage"] == "running"
    table = (await mlaas("devices", "list")).output
    assert "2 devices" in table and "op-2" in table and "running" in table

    assert "op-1: beta, eu" in (await mlaas("devices", "tag", "op-1", "eu", "beta")).output
    tagged = json.loads((await mlaas("devices", "list", "--tag", "beta", "--json")).stdout)
    assert [d["endpoint"] for d in tagged] == ["op-1"]
    assert (await mlaas("devices", "list", "--endpoint", "op-?", "--class", "nrf52840",
                        "--json")).stdout.strip() == "[]"  # fmt: skip
    assert "op-1: eu" in (await mlaas("devices", "untag", "op-1", "beta")).output
    shown = json.loads((await mlaas("devices", "show", "op-2", "--json")).stdout)
    assert shown["provisioning"]["class"] == "mps2-an386" and shown["deliveries"]
    assert "mps2-an386" in (await mlaas("devices", "show", "op-2")).output

    read = json.loads((await mlaas("read", "op-1", "/3/0/2", "--json")).stdout)
    assert read["content"]["value"] == "SN-op-1"
    assert "SN-op-1" in (await mlaas("read", "op-1", "/3/0")).output
    assert "CHANGED(204)" in (await mlaas("write", "op-1", "/3/0/14", "+05:00")).output
    node = json.dumps({"id": 15, "kind": "singleResource", "type": "STRING", "value": "Asia"})
    assert "CHANGED(204)" in (await mlaas("write", "op-1", "/3/0/15", node, "--node")).output
    read = json.loads((await mlaas("read", "op-1", "/3/0/14", "--format", "TEXT",
                                   "--json")).stdout)  # fmt: skip
    assert read["content"]["value"] == "+05:00"
    assert "CHANGED(204)" in (await mlaas("exec", "op-1", "/1/0/8")).output
    failed = await mlaas("read", "op-1", "/3/7", ok=False)
    assert failed.exit_code == 1 and "NOT_FOUND(404)" in failed.output
    observed = await mlaas("observe", "op-1", "/3/0/13", "--count", "2")
    assert observed.output.count("/3/0/13 = ") == 2


async def test_models_classes_and_deliveries(mlaas: Any, devices: Devices,
                                             service: MlaasService) -> None:  # fmt: skip
    classes = json.loads((await mlaas("classes", "list", "--json")).stdout)
    assert {c["name"]: c for c in classes}["samd21"]["core"] == "cortex-m0plus"
    assert "mps2-an505" in (await mlaas("classes", "list")).output
    models = {m["name"]: m for m in json.loads((await mlaas("models", "list", "--json")).stdout)}
    assert models["sine-s"]["built"] and not models["gesture-l"]["built"]
    built = json.loads((await mlaas("models", "build", "sine-s", "--json")).stdout)
    assert built[0]["version"] == models["sine-s"]["version"]  # cached: no training
    shown = json.loads((await mlaas("models", "show", "sine-m", "--json")).stdout)
    assert shown["task"] == "sine"
    imported = json.loads((await mlaas(
        "models", "import", str(MLPERF_TINY / "kws_ref_model.tflite"), "--task",
        "keyword-spotting", "--kind", "classification", "--name", "kws", "--json")).stdout)
    assert imported["name"] == "kws" and imported["source"] == "import"
    assert "kws" in (await mlaas("models", "list")).output
    missing = await mlaas("models", "import", "/nowhere/x.tflite", "--task", "x", ok=False)
    assert missing.exit_code == 1 and "import failed" in missing.output

    await provisioned(devices, service, "dl-1")
    delivered = json.loads((await mlaas("deliveries", "list", "--json")).stdout)
    assert [(d["endpoint"], d["state"]) for d in delivered] == [("dl-1", "succeeded")]
    assert "succeeded" in (await mlaas("deliveries", "list", "--endpoint", "dl-1")).output
    assert (await mlaas("deliveries", "list", "--active", "--json")).stdout.strip() == "[]"


async def test_rollout_commands(mlaas: Any, devices: Devices, service: MlaasService) -> None:
    group = await provisioned(devices, service, "ro-1", "ro-2", "ro-3")
    model = service.provisioning.status["ro-1"].model
    target = next(v for v in ("sine-s", "sine-m", "sine-l") if v != model)
    created = json.loads((await mlaas(
        "rollout", "create", target, "--endpoint", "ro-*", "--canary", "1", "--waves", "50,100",
        "--max-concurrent", "2", "--json")).stdout)
    assert [w["planned"] for w in created["waves"]] == [1, 1, 1]
    watched = await mlaas("rollout", "status", str(created["id"]), "--watch",
                          "--interval", "0.2")  # fmt: skip
    assert "wave 0" in watched.output and "completed" in watched.output
    listed = json.loads((await mlaas("rollout", "list", "--json")).stdout)
    assert listed[0]["state"] == "completed" and listed[0]["counts"] == {"succeeded": 3}
    assert "1 rollouts" in (await mlaas("rollout", "list")).output
    back = await mlaas("rollout", "rollback", str(created["id"]))
    assert "rolling_back" in back.output
    settled = json.loads((await mlaas("rollout", "status", str(created["id"]), "--watch",
                                      "--json")).stdout)  # fmt: skip
    assert settled["state"] == "rolled_back"
    previous = {m["previous_artifact"] for m in settled["members"]}
    assert len(previous) == 1 and None not in previous
    await wait_for(lambda: {d.tree.get("/5/0/7") for d in group} == previous, timeout=30)

    refused = await mlaas("rollout", "create", target, "--tag", "nobody-has-it", ok=False)
    assert refused.exit_code == 1
    assert refused.output.strip().startswith("mlaas: HTTP 400: Invalid request: no known device")
    assert len(refused.output.strip().splitlines()) == 1
    paused = await mlaas("rollout", "pause", "999", ok=False)
    assert paused.exit_code == 1 and paused.output.strip() == "mlaas: HTTP 404: no rollout 999"


async def test_pause_resume_abort_from_the_cli(mlaas: Any, devices: Devices,
                                               service: MlaasService) -> None:  # fmt: skip
    await provisioned(devices, service, *(f"pa-{n}" for n in range(4)), block_size=64)
    model = service.provisioning.status["pa-0"].model
    target = next(v for v in ("sine-s", "sine-m", "sine-l") if v != model)
    created = json.loads((await mlaas("rollout", "create", target, "--endpoint", "pa-*",
                                      "--canary", "0", "--max-concurrent", "1",
                                      "--json")).stdout)  # fmt: skip
    rollout_id = str(created["id"])
    assert "paused" in (await mlaas("rollout", "pause", rollout_id)).output
    again = await mlaas("rollout", "pause", rollout_id, ok=False)
    assert again.exit_code == 1 and "is paused" in again.output
    assert "running" in (await mlaas("rollout", "resume", rollout_id)).output
    aborted = json.loads((await mlaas("rollout", "abort", rollout_id, "--json")).stdout)
    assert aborted["state"] == "aborted" and "pending" not in aborted["counts"]
    status = await mlaas("rollout", "status", rollout_id)
    assert "aborted" in status.output and "pa-3" in status.output


async def test_operator_errors_are_one_line(service: MlaasService) -> None:
    assert service.api is not None
    runner = CliRunner()
    no_token = await asyncio.to_thread(runner.invoke, cli, [
        "--server", service.api.url, "--token", "wrong", "devices", "list"])
    assert no_token.exit_code == 1
    assert no_token.output.startswith("mlaas: HTTP 401: Unauthorized")
    assert len(no_token.output.strip().splitlines()) == 1
    nowhere = await asyncio.to_thread(runner.invoke, cli, [
        "--server", "http://127.0.0.1:9", "devices", "list"])
    assert nowhere.exit_code == 1
    assert nowhere.output.startswith("mlaas: cannot reach the server at http://127.0.0.1:9")


async def test_security_credentials_from_the_cli(mlaas: Any, service: MlaasService) -> None:
    added = await mlaas("security", "add", "cred-1", "--identity", "cred-1-id", "--key",
                        "00112233445566778899aabbccddeeff")  # fmt: skip
    assert "cred-1: PSK identity cred-1-id" in added.output
    assert service.server.credentials.of("cred-1") is not None  # the DTLS handshake sees it
    listed = json.loads((await mlaas("security", "list", "--json")).stdout)
    assert listed == [{"endpoint": "cred-1", "tls": {"mode": "psk", "details": {
        "identity": "cred-1-id", "key": "00112233445566778899aabbccddeeff"}}}]  # fmt: skip
    table = (await mlaas("security", "list")).output
    assert "cred-1-id" in table and "(hidden)" in table and "0011" not in table
    too_long = await mlaas("security", "add", "cred-2", "--identity", "x", "--key", "00" * 17,
                           ok=False)  # fmt: skip
    assert too_long.exit_code == 1 and "PSK key must be 1 to 16 bytes" in too_long.output
    assert "removed" in (await mlaas("security", "remove", "cred-1")).output
    again = await mlaas("security", "remove", "cred-1", ok=False)
    assert again.exit_code == 1 and "cred-1 has no credentials" in again.output
    assert service.server.credentials.of("cred-1") is None
