"""Package signing keys, the keys each device trusts, and packages signed per key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    """COSE kid, hex."""
    position: int
    """0 for the original key; the highest is the active key."""
    public_key: bytes
    """32 raw bytes."""
    created: float
    retired: float | None


@dataclass(frozen=True, slots=True)
class DeviceTrust:
    endpoint: str
    key_ids: tuple[str, ...]
    """Key ids (hex) the device trusts."""
    reported: bool
    """Read from /32100/0/9; false: assumed (the original key)."""
    updated: float


@dataclass(frozen=True, slots=True)
class SignedPackage:
    id: str
    """SHA-256 of the package file: what a device running it reports in /5/0/7."""
    artifact_id: str
    key_id: str
    """Hex kid of the key that signed it."""
    path: str
    created: float
