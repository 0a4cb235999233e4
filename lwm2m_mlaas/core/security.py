"""Security information the server holds per endpoint (LwM2M 1.1 Transport 5.2.8): a PSK
identity and key for DTLS. Pure values."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidRequest

MAX_IDENTITY_BYTES = 32
"""RFC 4279 allows 2^16-1; tinydtls (our CoAPs transport, and Zephyr's default) takes 32."""
MAX_KEY_BYTES = 16
"""tinydtls's DTLS_PSK_MAX_KEY_LEN: a longer key could never complete a handshake."""
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")


@dataclass(frozen=True, slots=True)
class SecurityInfo:
    """DTLS pre-shared key credentials of one endpoint."""

    endpoint: str
    identity: str
    key: bytes

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise InvalidRequest("security info needs an endpoint name")
        if not self.identity or len(self.identity.encode("utf-8")) > MAX_IDENTITY_BYTES:
            raise InvalidRequest(f"PSK identity must be 1 to {MAX_IDENTITY_BYTES} bytes")
        if not 1 <= len(self.key) <= MAX_KEY_BYTES:
            raise InvalidRequest(f"PSK key must be 1 to {MAX_KEY_BYTES} bytes")

    @classmethod
    def psk(cls, endpoint: str, identity: str, key_hex: str) -> SecurityInfo:
        if not _HEX.fullmatch(key_hex):
            raise InvalidRequest("PSK key must be an even number of hexadecimal digits")
        return cls(endpoint, identity, bytes.fromhex(key_hex))
