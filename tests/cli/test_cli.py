"""The mlaas command, run as a user runs it: a separate process."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from lwm2m_mlaas.compiler.chatter import is_chatter
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.server import EventKind, Lwm2mServer
from tests.helpers import wait_for
from tests.helpers.processes import run_mlaas


async def test_sim_registers_a_fleet_and_deregisters_on_exit(server: Lwm2mServer) -> None:
    kinds: list[EventKind] = []
    with server.events.listening(lambda e: kinds.append(e.kind)):
        code, out, _ = await run_mlaas(
            "sim",
            "--server",
            f"coap://127.0.0.1:{server.port}",
            "--devices",
            "3",
            "--board",
            "samd21",
            "--lwm2m",
            "1.0",
            "--no-trust-key",
            "--duration",
            "0.5",
        )
        assert code == 0, out
        assert "3 of 3 devices registered" in out
        await wait_for(lambda: kinds.count(EventKind.DEREGISTRATION) == 3)
    assert kinds.count(EventKind.REGISTRATION) == 3
    assert server.registrations.all() == []


async def test_sim_without_a_trust_key_fails_at_start(server: Lwm2mServer, tmp_path: Path) -> None:
    """Devices that could verify no package: refused before any registers, saying where the
    key was looked for and how to give it."""
    uri = f"coap://127.0.0.1:{server.port}"
    kinds: list[EventKind] = []
    with server.events.listening(lambda e: kinds.append(e.kind)):
        elsewhere = tmp_path / "other-data-dir"
        code, out, err = await run_mlaas("sim", "--server", uri, "--data-dir", str(elsewhere))
        assert code == 1 and out == ""
        assert err.strip() == (
            f"mlaas: no trust key: cannot read {elsewhere}/keys/signing-key.pub.pem (No such "
            "file or directory); is it the data dir `mlaas serve` runs with? else give "
            "--trust-key PEM (--no-trust-key runs devices that refuse every package)"
        )
        # no --data-dir: the default one (here XDG_DATA_HOME's), named in the message
        code, out, err = await run_mlaas(
            "sim", "--server", uri, env={"XDG_DATA_HOME": str(tmp_path / "xdg")}
        )
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
        assert f"cannot read {tmp_path}/xdg/lwm2m-mlaas/keys/signing-key.pub.pem" in err
        assert "give the --data-dir `mlaas serve` runs with, or --trust-key PEM" in err
        code, _, err = await run_mlaas("sim", "--server", uri,
                                       "--trust-key", str(tmp_path / "k.pem"))  # fmt: skip
        assert code == 1 and f"cannot read {tmp_path}/k.pem" in err
        await asyncio.sleep(0.2)
    assert kinds == [] and server.registrations.all() == []


@pytest.mark.slow  # provisions a whole fleet
async def test_demo_provisions_the_whole_fleet(tmp_path: Path) -> None:
    code, out, err = await run_mlaas(
        "demo", "--coap-port", "0", "--data-dir", str(tmp_path), timeout=600
    )
    assert code == 0, out + err
    assert not [line for line in err.splitlines() if is_chatter(line)], err  # TensorFlow's
    assert "24 of 24 devices run the model compiled for their class" in out
    for name in ("gesture-", "anomaly-", "sine-", "nrf5340", "mps2-an386", "push", "pull"):
        assert name in out


async def test_bad_arguments_are_refused() -> None:
    code, _, err = await run_mlaas("sim", "--devices", "two")
    assert code == 2 and "'two' is not a valid integer" in err


async def test_serve_on_a_busy_port_fails_clearly(server: Lwm2mServer, tmp_path: Path) -> None:
    code, out, _ = await run_mlaas(
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


@pytest.mark.slow  # compiles
async def test_compile_and_package_verify(tmp_path: Path) -> None:
    code, out, err = await run_mlaas(
        "compile", "sine-s", "--class", "samd21", "--json", "--data-dir", str(tmp_path), timeout=180
    )
    assert code == 0, err
    artifact = json.loads(out)
    assert artifact["fits"] and artifact["class"] == "samd21" and artifact["backend"] == "tflm"
    assert artifact["arena_bytes"] > 0 and artifact["model_bytes"] > 0
    assert {"int8", "float"} <= set(artifact["quality"])
    package = Path(artifact["package"])

    code, out, _ = await run_mlaas(
        "package", "verify", str(package), "--json", "--data-dir", str(tmp_path)
    )
    assert code == 0 and json.loads(out)["valid"] is True
    tampered = tmp_path / "tampered.pkg"
    data = bytearray(package.read_bytes())
    data[-5] ^= 0xFF
    tampered.write_bytes(bytes(data))
    code, out, _ = await run_mlaas("package", "verify", str(tampered), "--data-dir", str(tmp_path))
    assert code == 1 and "PayloadDigestMismatch" in out

    code, _, err = await run_mlaas("compile", "sine-s", "--class", "esp32",
                                   "--data-dir", str(tmp_path))  # fmt: skip
    assert code == 2


@pytest.mark.slow
@pytest.mark.timeout(300)  # the zoo (when this test trains it first) and two compiles
async def test_compile_shows_both_backends_side_by_side(trained_zoo: Path, tmp_path: Path) -> None:
    shutil.copytree(trained_zoo, Layout(tmp_path).zoo)
    code, out, err = await run_mlaas("compile", "sine-s", "--class", "mps2-an385", "--json",
                                 "--data-dir", str(tmp_path), timeout=240)  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["backend"] == "tflm" and result["fits"]  # the class's preferred backend
    tflm, native = result["backends"]
    assert (tflm["backend"], native["backend"]) == ("tflm", "native-armv7m")
    assert tflm["artifact"] == result["id"] and native["fits"]
    assert native["arena_bytes"] < tflm["arena_bytes"]
    assert native["ram_needed"] < tflm["ram_needed"]
    for figures in (tflm, native):
        assert figures["payload_bytes"] < figures["package_bytes"]
    # the table: one row per backend, and the figures side by side (both compiles are
    # recorded now: no worker runs again)
    code, out, err = await run_mlaas("compile", "sine-s", "--class", "mps2-an385",
                                 "--data-dir", str(tmp_path))  # fmt: skip
    assert code == 0, err
    arena = (native["arena_bytes"] - tflm["arena_bytes"]) / tflm["arena_bytes"]
    assert (f"mps2-an385: arena tflm {tflm['arena_bytes']:,} B, native-armv7m "
            f"{native['arena_bytes']:,} B ({arena:+.0%}); package tflm "
            f"{tflm['package_bytes']:,} B, native-armv7m {native['package_bytes']:,} B") in out
    # one backend on request; a class without that runtime says so
    code, out, _ = await run_mlaas("compile", "sine-s", "--class", "nrf5340", "--backend", "native",
                               "--json", "--data-dir", str(tmp_path))  # fmt: skip
    refused = json.loads(out)
    assert code == 1 and refused["fits"] is False and "backends" not in refused
    assert refused["reason"] == "nrf5340 has no native-armv8m-main-hardfp runtime (offers tflm)"


@pytest.mark.slow
@pytest.mark.timeout(300)  # the zoo, when this test trains it first
async def test_compile_keeps_tensorflow_chatter_off_stderr(
    trained_zoo: Path, tmp_path: Path
) -> None:
    """The workers' TensorFlow import and conversion print nothing between the progress bars:
    stderr holds the bar only."""
    shutil.copytree(trained_zoo, Layout(tmp_path).zoo)
    code, out, err = await run_mlaas("compile", "sine-s", "--class", "samd21", "--json",
                                 "--data-dir", str(tmp_path), timeout=240)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["fits"]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("compiling sine-s"), err
