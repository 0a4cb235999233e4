"""A device whose credentials the operator put through the REST API registers over DTLS and is
provisioned over its DTLS session: reads, then the package by push (Block1 over DTLS) or by
pull (a coaps:// URI it fetches over its own session)."""

from __future__ import annotations

import pytest

from lwm2m_mlaas.fleet.app import MlaasService
from tests.conftest import Api, Devices, wait_for
from tests.fleet.test_provisioning import deliveries, running


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_provisioned_over_dtls(
    api: Api, devices: Devices, service: MlaasService, mode: str
) -> None:
    key = b"psk-of-secure-01"
    info = {"endpoint": "secure-1", "tls": {"mode": "psk", "details": {
        "identity": "secure-1-id", "key": key.hex()}}}  # fmt: skip
    async with api.session.put("/api/security/clients", json=info) as response:
        assert response.status == 200
    device = await devices("secure-1", "mps2-an386", delivery=mode, psk_identity="secure-1-id",
                           psk_key=key, server=f"coaps://127.0.0.1:{service.server.dtls_port}")
    await wait_for(lambda: running(service, device), timeout=90)
    registration = service.server.registrations.by_endpoint("secure-1")
    assert registration is not None and registration.secure
    (delivery,) = await deliveries(service, "secure-1")
    assert (delivery.mode, delivery.state) == (mode, "succeeded")
    assert device.tree.get("/5/0/7") == delivery.artifact_id
    if mode == "pull":
        assert str(device.tree.get("/5/0/1")).startswith("coaps://")
