"""SenML JSON (content format 110, RFC 8428 section 5; LwM2M 1.1 Core 7.4.4).

Opaque values ("vd") are base64url without padding as RFC 8428 4.3 says; decoding also accepts
the standard alphabet and padding, which some clients send.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..content_format import ContentFormat
from ..errors import CodecError
from ._senml import Record, SenmlCodec


def _dumps(records: list[Record]) -> bytes:
    wire = [
        {
            k: base64.urlsafe_b64encode(v).rstrip(b"=").decode() if k == "vd" else v
            for k, v in r.items()
        }
        for r in records
    ]
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise CodecError(f"SenML JSON: {name} is not a valid number")


def decode_base64(text: object, where: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    if not isinstance(text, str):
        raise CodecError(f"{where}: {text!r} is not a base64 string")
    try:
        return base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise CodecError(f"{where}: {text[:40]!r} is not valid base64") from None


def _loads(data: bytes) -> object:
    try:
        records = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise CodecError(f"SenML JSON payload is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise CodecError(f"SenML JSON payload is not JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nested too deep, numbers too long
        raise CodecError(f"SenML JSON payload is not usable JSON: {str(exc)[:80]}") from None
    if isinstance(records, list):
        for index, record in enumerate(records):
            if isinstance(record, dict) and "vd" in record:
                record["vd"] = decode_base64(record["vd"], f"SenML record {index} 'vd'")
    return records


SENML_JSON = SenmlCodec(ContentFormat.SENML_JSON, _dumps, _loads)
