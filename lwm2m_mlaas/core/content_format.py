"""CoAP content formats LwM2M uses."""

from __future__ import annotations

from enum import IntEnum


class ContentFormat(IntEnum):
    TEXT = 0
    LINK = 40
    OPAQUE = 42
    CBOR = 60
    SENML_JSON = 110
    SENML_CBOR = 112
    OLD_TLV = 1542
    OLD_JSON = 1543
    TLV = 11542
    JSON = 11543
    LWM2M_CBOR = 11544

    @classmethod
    def by_name(cls, name: str) -> ContentFormat:
        """Leshan's format names: TLV, TEXT, SENML_JSON, SENML_CBOR, JSON, OPAQUE, LINK, CBOR;
        and LWM2M_CBOR."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown content format {name!r}") from None
