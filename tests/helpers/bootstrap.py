"""Bootstrap: Leshan's example bootstrap config (the demo's POST /api/bootstrap/ep1) and its
keys, the stored outcome of an endpoint's last bootstrap, and a config placing devices on nodes."""

from __future__ import annotations

from typing import Any

from lwm2m_mlaas.core.bootstrap import BootstrapConfig
from lwm2m_mlaas.server import Lwm2mServer

BS_KEY = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")
DM_KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")

# The example the Leshan 2.0 demo accepts (POST /api/bootstrap/ep1), as its UI builds it
# (BootstrapView.vue#addConfig, bsconfigutil.js#configFromUIToRest).
LESHAN_EXAMPLE: dict[str, Any] = {
    "toDelete": ["/0", "/1", "/21"],
    "autoIdForSecurityObject": False,
    "servers": {
        "0": {"shortId": 123, "lifetime": 300, "defaultMinPeriod": 1, "notifIfDisabled": True,
              "binding": "U"},
    },
    "security": {
        "0": {"uri": "coaps://bs.example:5684", "bootstrapServer": True, "securityMode": "PSK",
              "publicKeyOrId": [101, 112, 49, 45, 98, 115, 45, 105, 100],
              "secretKey": [161, 178, 195, 212, 229, 246, 7, 24, 41, 58, 75, 92, 109, 126, 143,
                            144],
              "serverPublicKey": [], "smsSecurityMode": "NO_SEC", "smsBindingKeyParam": [],
              "smsBindingKeySecret": [], "serverSmsNumber": "", "clientOldOffTime": 1},
        "1": {"uri": "coaps://dm.example:5684", "bootstrapServer": False, "securityMode": "PSK",
              "publicKeyOrId": [101, 112, 49, 45, 100, 109, 45, 105, 100],
              "secretKey": [15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195, 210, 225,
                            240],
              "serverPublicKey": [], "smsSecurityMode": "NO_SEC", "smsBindingKeyParam": [],
              "smsBindingKeySecret": [], "serverSmsNumber": "", "serverId": 123,
              "clientOldOffTime": 1},
    },
    "acls": {},
    "oscore": {},
}  # fmt: skip


async def bootstrap_result(server: Lwm2mServer, endpoint: str) -> str | None:
    """How the endpoint's last bootstrap ended, as stored (None: no record or no bootstrap)."""
    async with server.store.transaction() as tx:
        record = await tx.bootstrap.get(endpoint)
    return None if record is None else record.last_result


def placing_config(lifetime: int) -> BootstrapConfig:
    """NoSec bootstrap and DM accounts, both uris empty: the node the endpoint moves to if its
    own dies (this one when alone), and the endpoint's node."""
    return BootstrapConfig.from_json({
        "security": {"0": {"uri": "", "bootstrapServer": True, "securityMode": "NO_SEC"},
                     "1": {"uri": "", "securityMode": "NO_SEC", "serverId": 3}},
        "servers": {"0": {"shortId": 3, "lifetime": lifetime}}})  # fmt: skip
