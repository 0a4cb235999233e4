"""Security information the server holds per endpoint (LwM2M 1.1 Transport 5.2.8): a PSK
identity and key for DTLS, or an OSCORE context's parameters. Pure values."""

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


AES_CCM_16_64_128 = 10
"""COSE AEAD algorithm, the OSCORE default (RFC 8613 3.2)."""
HKDF_SHA_256 = -10
SEQUENCE_RESERVE = 1024
"""OSCORE sender sequence numbers reserved in storage ahead of use (RFC 8613 B.1.1): after a
crash, a context resumes past every number it may have used."""
MAX_OSCORE_ID_BYTES = 7
"""Sender and Recipient IDs of AES-CCM-16-64-128 (nonce 13 bytes - 6)."""


@dataclass(frozen=True, slots=True)
class OscoreSetting:
    """An OSCORE security context's input parameters (RFC 8613 3.2), from one side's view."""

    sender_id: bytes
    recipient_id: bytes
    master_secret: bytes
    master_salt: bytes = b""
    aead: int = AES_CCM_16_64_128
    hkdf: int = HKDF_SHA_256

    def __post_init__(self) -> None:
        for name in ("sender_id", "recipient_id"):
            if len(getattr(self, name)) > MAX_OSCORE_ID_BYTES:
                raise InvalidRequest(f"OSCORE {name} takes at most {MAX_OSCORE_ID_BYTES} bytes")
        if self.sender_id == self.recipient_id:
            raise InvalidRequest("OSCORE sender and recipient ids must differ")
        if not 1 <= len(self.master_secret) <= 64:
            raise InvalidRequest("OSCORE master secret must be 1 to 64 bytes")
        if len(self.master_salt) > 64:
            raise InvalidRequest("OSCORE master salt takes at most 64 bytes")
        if self.aead != AES_CCM_16_64_128 or self.hkdf != HKDF_SHA_256:
            raise InvalidRequest("OSCORE takes AES-CCM-16-64-128 (10) with HKDF-SHA-256 (-10)")

    def mirrored(self) -> OscoreSetting:
        """The same context from the peer's side."""
        return OscoreSetting(self.recipient_id, self.sender_id, self.master_secret,
                             self.master_salt, self.aead, self.hkdf)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OscoreInfo:
    """An endpoint's OSCORE credentials, from the server's side: sender_id is the server's,
    recipient_id the device's (the kid its requests carry)."""

    endpoint: str
    setting: OscoreSetting

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise InvalidRequest("security info needs an endpoint name")
