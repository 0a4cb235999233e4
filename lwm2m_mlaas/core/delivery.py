"""A package delivery to one device over Object 5, as the server records it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .changes import UNSET, Unset


class DeliveryMode(StrEnum):
    PUSH = "push"
    """The server writes the package into /5/0/0 (Block1)."""
    PULL = "pull"
    """The server writes a URI into /5/0/1; the device fetches it (Block2)."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    TRANSFERRING = "transferring"
    DOWNLOADED = "downloaded"
    UPDATING = "updating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE_DELIVERY


ACTIVE_DELIVERY = frozenset({DeliveryState.PENDING, DeliveryState.TRANSFERRING,
                             DeliveryState.DOWNLOADED, DeliveryState.UPDATING})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint: str
    artifact_id: str
    model: str
    device_class: str
    mode: DeliveryMode
    state: DeliveryState
    attempts: int
    next_attempt: float
    result: int | None
    """The device's last /5/0/5 Update Result."""
    reason: str | None
    created: float
    updated: float

    @property
    def active(self) -> bool:
        return self.state.active


@dataclass(frozen=True, slots=True)
class DeliveryChange:
    state: DeliveryState | Unset = UNSET
    attempts: int | Unset = UNSET
    next_attempt: float | Unset = UNSET
    result: int | Unset | None = UNSET
    reason: str | Unset | None = UNSET
