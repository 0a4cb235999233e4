"""The service's package signing keys: an Ed25519 keyring in a folder, created on first use.

    <folder>/signing-key.pem        the original key: PKCS#8 private key, file mode 0600
    <folder>/signing-key-<n>.pem    keys added by rotation (n = 1, 2, ...); the highest is active
    <folder>/signing-key.pub.pem    SubjectPublicKeyInfo of the key devices are built with: the
                                    original key until the service retires it, then the oldest
                                    key not retired

Creation is atomic and race-free (written to a private temporary file, then hard-linked into
place; a rotation that loses the race for a name takes the next one), so several worker
processes may start on an empty folder at once. Keys are never deleted: which ones are retired
is the service's record, in its database. A Signer pickles as its folder and file name, so a
process-pool worker reloads the same key; a Keyring pickles as its folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
EDDSA = -8
"""COSE algorithm identifier of EdDSA (RFC 9053), here with Ed25519."""
_ROTATED = re.compile(r"^signing-key-([1-9][0-9]{0,8})\.pem$")


@dataclass(frozen=True, slots=True)
class KeyringEntry:
    position: int
    """0 for the original key, n for signing-key-<n>.pem."""
    name: str
    """File name in the keyring's folder."""
    key_id: bytes
    public_key: bytes
    """The 32 raw bytes."""
    created: float
    """The key file's modification time."""


class Signer:
    """One private key of a keyring: the named file, by default the active (newest) key."""

    algorithm = EDDSA

    def __init__(self, folder: Path, name: str | None = None) -> None:
        self.folder = Path(folder)
        if name is None:
            name = Keyring(self.folder).active.name
        self.name = name
        self._key = _load(self.folder / name)
        self.public_key = self._key.public_key()
        self.key_id = key_id(self.public_key)
        """COSE kid: the first 8 bytes of the SHA-256 of the raw public key."""

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Signer, (self.folder, self.name))

    def __repr__(self) -> str:
        return f"Signer({str(self.folder)!r}, {self.name!r}, key_id={self.key_id.hex()})"


class Keyring:
    """The keys in a folder, oldest first; the original key is created when there is none."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        original = self.folder / KEY_FILE
        if not original.exists():
            _link_new_key(original)
        if not (self.folder / PUBLIC_KEY_FILE).exists():
            self.publish(self.entries()[0].key_id)

    def entries(self) -> list[KeyringEntry]:
        """Every key, oldest first (by position)."""
        found = [(0, KEY_FILE)] if (self.folder / KEY_FILE).exists() else []
        for path in self.folder.iterdir():
            match = _ROTATED.match(path.name)
            if match:
                found.append((int(match[1]), path.name))
        return [self._entry(position, name) for position, name in sorted(found)]

    def _entry(self, position: int, name: str) -> KeyringEntry:
        path = self.folder / name
        public = _load(path).public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return KeyringEntry(position, name, key_id(public), raw, path.stat().st_mtime)

    @property
    def original(self) -> KeyringEntry:
        return self.entries()[0]

    @property
    def active(self) -> KeyringEntry:
        """The newest key: the one new packages are signed with."""
        return self.entries()[-1]

    def signer(self, kid: bytes | None = None) -> Signer:
        """The key with this key id (default: the active key)."""
        for entry in reversed(self.entries()):
            if kid is None or entry.key_id == kid:
                return Signer(self.folder, entry.name)
        raise LookupError(f"no signing key {kid.hex() if kid else ''} in {self.folder}")

    def rotate(self) -> KeyringEntry:
        """Add a new key after the newest; it becomes the active key."""
        position = max((e.position for e in self.entries()), default=0) + 1
        while True:
            name = f"signing-key-{position}.pem"
            if _link_new_key(self.folder / name):
                return self._entry(position, name)
            position += 1  # another process took this name at the same time

    def publish(self, kid: bytes) -> None:
        """Write signing-key.pub.pem (atomically) with the key of this id."""
        signer = self.signer(kid)
        pem = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        path = self.folder / PUBLIC_KEY_FILE
        if path.exists() and path.read_bytes() == pem:
            return
        temporary = path.with_name(f".{PUBLIC_KEY_FILE}.{os.getpid()}")
        temporary.write_bytes(pem)
        temporary.replace(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Keyring, (self.folder,))

    def __repr__(self) -> str:
        return f"Keyring({str(self.folder)!r})"


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


def _link_new_key(path: Path) -> bool:
    """Create a new private key at `path` unless a file is there; False if one was (another
    process created it first: use theirs)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
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
        return False
    finally:
        temporary.unlink()
    return True


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key
