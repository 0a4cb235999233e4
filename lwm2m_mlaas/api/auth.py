"""The REST API's bearer token: created on first run in the data dir, readable by its owner only."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_FILE = "api-token"
MLAAS_ROUTES = "/api/mlaas"
ALWAYS_GUARDED = (MLAAS_ROUTES, "/api/security", "/api/bootstrap")
"""Routes that need the token even to read (keys, fleet internals), outside interop mode."""


def load_token(data_dir: Path) -> str:
    """The token in <data_dir>/api-token, created (mode 0600) when there is none."""
    path = Path(data_dir) / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())  # fmt: skip


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
