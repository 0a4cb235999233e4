"""Server accounts in a device's Security (0) and Server (1) objects: what the device was
built with, and what it uses to reach its servers after a bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.nodes import Value
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
            binding if isinstance(binding, str) else None))  # fmt: skip
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
