"""`mlaas sim` as a user runs it against a running service: --until-provisioned, --fail."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.config import ServerConfig
from tests.helpers.processes import run_mlaas

pytestmark = pytest.mark.slow


async def test_sim_until_provisioned(service: MlaasService, fleet_config: ServerConfig) -> None:
    key = str(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE)
    server = f"coap://127.0.0.1:{service.server.port}"
    code, out, err = await run_mlaas(
        "sim",
        "--server",
        server,
        "--devices",
        "2",
        "--class",
        "mps2-an505",
        "--task",
        "sine",
        "--delivery",
        "pull",
        "--trust-key",
        key,
        "--until-provisioned",
        "120",
        timeout=180,
    )
    assert code == 0, out + err
    assert "2 of 2 devices registered" in out
    # the devices ran their model (the sim's own check); the server pulled to both
    async with service.server.store.transaction() as tx:
        delivered = await tx.deliveries.all()
    assert sorted(d.endpoint for d in delivered) == ["sim-0001", "sim-0002"]
    assert {d.mode for d in delivered} == {"pull"}


async def test_sim_with_every_package_corrupted_never_provisions(
    service: MlaasService, fleet_config: ServerConfig
) -> None:
    key = str(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE)
    code, out, _ = await run_mlaas(
        "sim",
        "--server",
        f"coap://127.0.0.1:{service.server.port}",
        "--devices",
        "1",
        "--class",
        "mps2-an505",
        "--task",
        "sine",
        "--fail",
        "integrity:1.0",
        "--trust-key",
        key,
        "--until-provisioned",
        "25",
        timeout=120,
    )
    assert code == 1
    assert "not running a model" in out


async def test_until_provisioned_settles_a_device_the_server_refused(
    service: MlaasService, fleet_config: ServerConfig
) -> None:
    """One device asks for a task nothing in the zoo does: the server refuses it, and the sim,
    given the server's data dir (its key and API token) and the REST API, stops waiting once
    the other one runs its model, naming the refused device and the server's reason."""
    assert service.api is not None
    code, out, err = await run_mlaas(
        "sim",
        "--server",
        f"coap://127.0.0.1:{service.server.port}",
        "--devices",
        "2",
        "--class",
        "mps2-an505",
        "--task",
        "sine",
        "--task",
        "juggling",
        "--data-dir",
        str(fleet_config.data_dir),
        "--api",
        service.api.url,
        "--until-provisioned",
        "600",
        timeout=120,  # far less than --until-provisioned: it must not wait for the refused one
        env={"COLUMNS": "200"},
    )
    assert code == 1, out + err
    assert "2 of 2 devices registered" in out
    assert service.provisioning.status["sim-0001"].stage == "running"
    reason = service.provisioning.status["sim-0002"].reason
    assert reason == "no model named 'juggling' in the zoo or among imported models"
    refused = [line for line in out.splitlines() if "sim-0002" in line]
    assert len(refused) == 1 and "mps2-an505" in refused[0] and reason in refused[0], out
    assert "1 device(s) refused by the server" in out
    assert "1 device(s) not running a model: the server refused them" in out
    assert "sim-0001" not in out.split("devices registered")[1]  # it runs: not listed


async def test_until_provisioned_settles_a_fleet_the_server_refused_entirely(
    service: MlaasService, fleet_config: ServerConfig
) -> None:
    """Every device refused: the sim exits at once; the token comes from --token here."""
    assert service.api is not None
    code, out, err = await run_mlaas(
        "--token",
        service.api.token,
        "sim",
        "--server",
        f"coap://127.0.0.1:{service.server.port}",
        "--devices",
        "3",
        "--prefix",
        "odd",
        "--class",
        "mps2-an505",
        "--task",
        "juggling",
        "--trust-key",
        str(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE),
        "--api",
        service.api.url,
        "--until-provisioned",
        timeout=120,
        env={"COLUMNS": "200"},
    )
    assert code == 1, out + err
    assert "3 device(s) refused by the server" in out
    for endpoint in ("odd-0001", "odd-0002", "odd-0003"):
        assert f"{endpoint} " in out
    assert "after 300 s" not in out


async def test_until_provisioned_without_the_api_says_so(
    service: MlaasService, fleet_config: ServerConfig
) -> None:
    """An API that does not answer: one line says refusals are not known, and the sim waits for
    models only, as before."""
    code, out, _ = await run_mlaas(
        "sim",
        "--server",
        f"coap://127.0.0.1:{service.server.port}",
        "--class",
        "mps2-an505",
        "--task",
        "juggling",
        "--data-dir",
        str(fleet_config.data_dir),
        "--api",
        "http://127.0.0.1:9",
        "--until-provisioned",
        "3",
        timeout=60,
        env={"COLUMNS": "200"},
    )
    assert code == 1
    assert "not asking the REST API which devices it refused (cannot reach the server at " \
        "http://127.0.0.1:9" in out  # fmt: skip
    assert "1 device(s) not running a model after 3 s: sim-0001" in out
