"""SenML CBOR (content format 112, RFC 8428 section 6; LwM2M 1.1 Core 7.4.5).

Integer labels as RFC 8428 Table 4 assigns them; LwM2M's object link value keeps its text label
"vlo". Numbers stay CBOR integers where they are integers; floats are encoded as float64.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import cbor2

from ..content_format import ContentFormat
from ._senml import Record, SenmlCodec
from .cbor import one_item

LABELS: dict[str, int | str] = {
    "bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6,
    "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8,
    "vlo": "vlo",
}  # fmt: skip
_NAMES = {code: name for name, code in LABELS.items()}


def _dumps(records: list[Record]) -> bytes:
    return cbor2.dumps([{LABELS[k]: v for k, v in r.items()} for r in records])


def _plain(value: object) -> object:
    if isinstance(value, Decimal | Fraction):  # decimal fractions (tag 4), e.g. "bt"
        return int(value) if value == int(value) else float(value)
    return value


def _loads(data: bytes) -> object:
    items = one_item(data, "SenML CBOR payload")
    if not isinstance(items, list):
        return items
    return [
        {_NAMES.get(k, k): _plain(v) for k, v in r.items()} if isinstance(r, dict) else r
        for r in items
    ]


SENML_CBOR = SenmlCodec(ContentFormat.SENML_CBOR, _dumps, _loads)
