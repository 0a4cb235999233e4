"""The service's package signing key: Ed25519, in a folder, created on first use.

    <folder>/signing-key.pem      PKCS#8 private key, file mode 0600
    <folder>/signing-key.pub.pem  SubjectPublicKeyInfo public key, for devices and operators

Creation is atomic and race-free (written to a private temporary file, then hard-linked into
place), so several worker processes may start on an empty folder at once. A Signer pickles as
its folder: a process-pool worker reloads the same key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
EDDSA = -8
"""COSE algorithm identifier of EdDSA (RFC 9053), here with Ed25519."""


class Signer:
    algorithm = EDDSA

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key = _load_or_create(self.folder / KEY_FILE)
        self.public_key = self._key.public_key()
        self.key_id = key_id(self.public_key)
        """COSE kid: the first 8 bytes of the SHA-256 of the raw public key."""
        public_pem = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public_path = self.folder / PUBLIC_KEY_FILE
        if not public_path.exists() or public_path.read_bytes() != public_pem:
            temporary = public_path.with_name(f".{PUBLIC_KEY_FILE}.{os.getpid()}")
            temporary.write_bytes(public_pem)
            temporary.replace(public_path)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Signer, (self.folder,))

    def __repr__(self) -> str:
        return f"Signer({str(self.folder)!r}, key_id={self.key_id.hex()})"


def key_id(public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8]


def load_public_key(value: Ed25519PublicKey | bytes | Path) -> Ed25519PublicKey:
    """A public key from a key object, a PEM file, PEM bytes or the 32 raw bytes."""
    if isinstance(value, Ed25519PublicKey):
        return value
    data = value.read_bytes() if isinstance(value, Path) else value
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key
