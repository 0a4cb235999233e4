"""A device whose credentials the operator put through the REST API registers over DTLS (or
OSCORE) and is provisioned over its secure session: reads, then the package by push (Block1)
or by pull (a URI it fetches over its own session or context)."""

from __future__ import annotations

from typing import Any

import pytest

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.core.security import OscoreSetting
from tests.helpers import wait_for
from tests.helpers.service import Api, Devices, deliveries, running

pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize("mode", ["push", "pull"])
async def test_provisioned_over_oscore(
    api: Api, devices: Devices, service: MlaasService, mode: str
) -> None:
    """The same with OSCORE credentials: the device registers, is read and receives its
    package (push, or a coap:// pull it protects with its own context) all over OSCORE."""
    secret = bytes(range(16))
    info: dict[str, Any] = {"endpoint": "oscore-1", "oscore": {
        "sid": "53", "rid": "44", "msec": secret.hex(), "msalt": ""}}  # fmt: skip
    async with api.session.put("/api/security/clients", json=info) as response:
        assert response.status == 200
    async with api.session.get("/api/security/clients/oscore-1") as response:
        assert (await response.json())["oscore"] == {**info["oscore"], "aead": 10, "hkdf": -10}
    setting = OscoreSetting(b"D", b"S", secret)
    device = await devices("oscore-1", "mps2-an386", delivery=mode, oscore=setting)
    await wait_for(lambda: running(service, device), timeout=90)
    registration = service.server.registrations.by_endpoint("oscore-1")
    assert registration is not None and registration.secure
    (delivery,) = await deliveries(service, "oscore-1")
    assert (delivery.mode, delivery.state) == (mode, "succeeded")
    assert device.tree.get("/5/0/7") == delivery.artifact_id
    if mode == "pull":
        assert str(device.tree.get("/5/0/1")).startswith("coap://")
