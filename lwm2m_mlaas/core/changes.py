"""Typed partial updates: a change object names the fields it sets; the others stay UNSET."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET
"""A field the change leaves as it is (None is a value: it clears the field)."""


def changed_fields(change: Any) -> dict[str, Any]:
    """The fields a change dataclass sets, by name; enum members as their values."""
    values = {f.name: getattr(change, f.name) for f in fields(change)}
    return {name: v.value if isinstance(v, Enum) else v
            for name, v in values.items() if v is not UNSET}  # fmt: skip
