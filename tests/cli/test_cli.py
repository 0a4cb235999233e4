"""The mlaas command, run as a user runs it: a separate process."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from lwm2m_mlaas.server import EventKind, Lwm2mServer
from tests.conftest import DeviceFactory, wait_for


async def mlaas(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lwm2m_mlaas.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_sim_registers_a_fleet_and_deregisters_on_exit(server: Lwm2mServer) -> None:
    kinds: list[EventKind] = []
    with server.events.listening(lambda e: kinds.append(e.kind)):
        code, out, _ = await mlaas(
            "sim",
            "--server",
            f"coap://127.0.0.1:{server.port}",
            "--devices",
            "3",
            "--board",
            "samd21",
            "--lwm2m",
            "1.0",
            "--duration",
            "0.5",
        )
        assert code == 0, out
        assert "3 of 3 devices registered" in out
        await wait_for(lambda: kinds.count(EventKind.DEREGISTRATION) == 3)
    assert kinds.count(EventKind.REGISTRATION) == 3
    assert server.registrations.all() == []


async def test_devices_lists_the_database_as_json_and_table(
    server: Lwm2mServer, device: DeviceFactory, server_config: object
) -> None:
    await device("dev-a", lifetime=300)
    await device("dev-b", lifetime=120, lwm2m_version="1.0", queue_mode=True)
    db = Path(server.config.data_dir) / "mlaas.db"
    code, out, err = await mlaas("devices", "--db", str(db), "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [d["endpoint"] for d in listed] == ["dev-a", "dev-b"]
    assert listed[1]["lwM2mVersion"] == "1.0" and listed[1]["queuemode"] is True
    assert listed[0]["lifetime"] == 300
    assert {"url": "/3/0", "attributes": {}} in listed[0]["objectLinks"]
    code, out, _ = await mlaas("devices", "--db", str(db))
    assert code == 0 and "2 registered" in out and "dev-b" in out


async def test_demo_provisions_the_whole_fleet(tmp_path: Path) -> None:
    code, out, err = await mlaas(
        "demo", "--coap-port", "0", "--data-dir", str(tmp_path), timeout=600
    )
    assert code == 0, out + err
    assert "24 of 24 devices run the model compiled for their class" in out
    for name in ("gesture-", "anomaly-", "sine-", "nrf5340", "mps2-an386", "push", "pull"):
        assert name in out


async def test_bad_arguments_are_refused() -> None:
    code, _, err = await mlaas("sim", "--devices", "two")
    assert code == 2 and "invalid int value" in err


async def test_serve_on_a_busy_port_fails_clearly(server: Lwm2mServer, tmp_path: Path) -> None:
    code, out, _ = await mlaas(
        "serve",
        "--coap-host",
        "127.0.0.1",
        "--coap-port",
        str(server.port),
        "--db",
        str(tmp_path / "other.db"),
    )
    assert code == 1
    assert "Address already in use" in out


async def test_classes_list() -> None:
    code, out, err = await mlaas("classes", "list", "--json")
    assert code == 0, err
    classes = {c["name"]: c for c in json.loads(out)}
    assert classes["samd21"]["core"] == "cortex-m0plus"
    assert classes["nrf52840"]["ml_ram_bytes"] == 96 * 1024
    assert "CONV_2D" in classes["stm32f746"]["ops"]
    code, out, _ = await mlaas("classes", "list")
    assert code == 0 and "mps2-an505" in out and "cortex-m33" in out


async def test_models_compile_and_package_verify(tmp_path: Path) -> None:
    code, out, err = await mlaas("models", "list", "--json", "--data-dir", str(tmp_path))
    assert code == 0, err
    listed = {m["name"]: m for m in json.loads(out)}
    assert {"gesture-s", "anomaly-m", "digits-l", "sine-s"} <= set(listed)
    assert not any(m["built"] for m in listed.values())  # listing never trains

    code, out, err = await mlaas(
        "compile", "sine-s", "--class", "samd21", "--json", "--data-dir", str(tmp_path), timeout=180
    )
    assert code == 0, err
    artifact = json.loads(out)
    assert artifact["fits"] and artifact["class"] == "samd21" and artifact["backend"] == "tflm"
    assert artifact["arena_bytes"] > 0 and artifact["model_bytes"] > 0
    assert {"int8", "float"} <= set(artifact["quality"])
    package = Path(artifact["package"])

    code, out, _ = await mlaas("models", "show", "sine-s", "--json", "--data-dir", str(tmp_path))
    assert code == 0 and json.loads(out)["version"] == artifact["version"]

    code, out, _ = await mlaas(
        "package", "verify", str(package), "--json", "--data-dir", str(tmp_path)
    )
    assert code == 0 and json.loads(out)["valid"] is True
    tampered = tmp_path / "tampered.pkg"
    data = bytearray(package.read_bytes())
    data[-5] ^= 0xFF
    tampered.write_bytes(bytes(data))
    code, out, _ = await mlaas("package", "verify", str(tampered), "--data-dir", str(tmp_path))
    assert code == 1 and "PayloadDigestMismatch" in out

    code, _, err = await mlaas("compile", "sine-s", "--class", "esp32", "--data-dir", str(tmp_path))
    assert code == 2


MLPERF_TINY = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny"


async def test_import_an_mlperf_model_and_compile_it_for_two_classes(tmp_path: Path) -> None:
    folder = ("--data-dir", str(tmp_path))
    code, out, err = await mlaas(
        "models",
        "import",
        str(MLPERF_TINY / "kws_ref_model.tflite"),
        "--task",
        "keyword-spotting",
        "--kind",
        "classification",
        "--name",
        "kws",
        "--json",
        *folder,
    )
    assert code == 0, err
    assert json.loads(out)["source"] == "import"
    code, out, err = await mlaas(
        "compile", "kws", "--class", "samd21", "--class", "nrf52840", "--json", *folder, timeout=180
    )
    assert code == 1, err  # not every class holds it
    samd21, nrf52840 = json.loads(out)
    assert not samd21["fits"] and "not supported by samd21" in samd21["reason"]
    assert nrf52840["fits"] and nrf52840["model_bytes"] == 53_936
    code, out, _ = await mlaas(
        "models", "import", str(tmp_path / "missing.tflite"), "--task", "x", *folder
    )
    assert code == 1 and "import failed" in out
