"""Server accounts in a device's Security (0) and Server (1) objects: what the device was
built with, and what it uses to reach its servers after a bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.nodes import ObjectLink, Value
from ..core.security import OscoreSetting
from .objects import ObjectTree

PSK, NO_SEC = 0, 3
"""Security Mode (/0/x/2) values the simulated device supports."""


@dataclass(frozen=True)
class ServerAccount:
    uri: str
    bootstrap: bool
    identity: bytes | None = None
    key: bytes | None = None
    short_id: int = 0
    lifetime: int | None = None
    binding: str | None = None
    oscore: OscoreSetting | None = None
    """The account's OSCORE context, the device's view (its Sender ID first)."""

    @property
    def secure(self) -> bool:
        return self.uri.startswith("coaps://")


def install_account(tree: ObjectTree, instance: int, account: ServerAccount) -> None:
    """The factory account: a Security instance (and a Server instance for a DM server)."""
    mode = PSK if account.identity is not None else NO_SEC
    values: dict[int, Value] = {0: account.uri, 1: account.bootstrap, 2: mode,
                                3: account.identity or b"", 4: b"", 5: account.key or b"",
                                10: account.short_id}  # fmt: skip
    for r, value in values.items():
        tree.set(f"/0/{instance}/{r}", value)
    if account.oscore is not None:
        o = account.oscore
        oscore: dict[int, Value] = {0: o.master_secret, 1: o.sender_id, 2: o.recipient_id,
                                    3: o.aead, 4: o.hkdf, 5: o.master_salt}  # fmt: skip
        for r, value in oscore.items():
            tree.set(f"/21/{instance}/{r}", value)
        tree.set(f"/0/{instance}/17", ObjectLink(21, instance))


def accounts(tree: ObjectTree) -> list[ServerAccount]:
    """Every account the Security object holds, DM servers with their Server instance."""
    servers = {res.get(0): res for res in tree.data.get(1, {}).values()}
    found = []
    for _, res in sorted(tree.data.get(0, {}).items()):
        uri, bootstrap = res.get(0), bool(res.get(1))
        if not isinstance(uri, str) or not uri:
            continue
        psk = res.get(2) == PSK
        identity, key = res.get(3), res.get(5)
        short_id = res.get(10)
        server = servers.get(short_id, {})
        lifetime = server.get(1)
        binding = server.get(7)
        found.append(ServerAccount(
            uri, bootstrap,
            identity if psk and isinstance(identity, bytes) else None,
            key if psk and isinstance(key, bytes) else None,
            short_id if isinstance(short_id, int) else 0,
            lifetime if isinstance(lifetime, int) else None,
            binding if isinstance(binding, str) else None,
            _oscore(tree, res.get(17))))  # fmt: skip
    return found


def dm_account(tree: ObjectTree) -> ServerAccount | None:
    """The first LwM2M server account with a Server instance, or None (bootstrap needed)."""
    for account in accounts(tree):
        if not account.bootstrap and account.lifetime is not None:
            return account
    return None


def bootstrap_account(tree: ObjectTree) -> ServerAccount | None:
    for account in accounts(tree):
        if account.bootstrap:
            return account
    return None


def _oscore(tree: ObjectTree, link: object) -> OscoreSetting | None:
    if not isinstance(link, ObjectLink) or link.object_id != 21:
        return None
    res = tree.data.get(21, {}).get(link.instance_id, {})
    secret, sender, recipient = res.get(0), res.get(1), res.get(2)
    salt = res.get(5, b"")
    if not (isinstance(secret, bytes) and isinstance(sender, bytes)
            and isinstance(recipient, bytes) and isinstance(salt, bytes)):  # fmt: skip
        return None
    aead, hkdf = res.get(3, 10), res.get(4, -10)
    return OscoreSetting(sender, recipient, secret, salt,
                         aead if isinstance(aead, int) else 10,
                         hkdf if isinstance(hkdf, int) else -10)  # fmt: skip
