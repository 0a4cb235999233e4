"""Signing keys and model packages: the raw public key firmware is given, and a package put
into a simulated device's /5/0/0 as a push would."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lwm2m_mlaas.compiler.signing import Signer
from lwm2m_mlaas.core.nodes import ResourceType, SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.sim import SimulatedDevice

PACKAGE_RESOURCE = Lwm2mPath.parse("/5/0/0")


def raw_public_key(signer: Signer) -> bytes:
    """The signer's Ed25519 public key, 32 raw bytes (as the C firmware takes it)."""
    return signer.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def push_package(device: SimulatedDevice, package: bytes) -> None:
    """Write `package` into the device's /5/0/0 directly, as a completed push leaves it."""
    device.tree.write(PACKAGE_RESOURCE,
                      SingleResource(0, ResourceType.OPAQUE, package), replace=True)  # fmt: skip
