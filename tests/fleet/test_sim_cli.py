"""`mlaas sim` as a user runs it against a running service: --until-provisioned, --fail."""

from __future__ import annotations

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.config import ServerConfig
from tests.cli.test_cli import mlaas


async def test_sim_until_provisioned(service: MlaasService, fleet_config: ServerConfig) -> None:
    key = str(Layout(fleet_config.data_dir).keys / PUBLIC_KEY_FILE)
    server = f"coap://127.0.0.1:{service.server.port}"
    code, out, err = await mlaas(
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
    code, out, _ = await mlaas(
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
