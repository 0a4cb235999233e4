"""What the fleet side knows of devices, and rollouts with their members."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .changes import UNSET, Unset


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    endpoint: str
    device_class: str | None
    task: str | None
    """The task the device asks for (/32100/0/5)."""
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceChange:
    device_class: str | Unset | None = UNSET
    task: str | Unset | None = UNSET
    tags: frozenset[str] | Unset = UNSET


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"

    @property
    def active(self) -> bool:
        return self in (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.ROLLING_BACK)


class MemberState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"

    @property
    def finished(self) -> bool:
        return self in (MemberState.SUCCEEDED, MemberState.FAILED, MemberState.SKIPPED,
                        MemberState.ROLLED_BACK)  # fmt: skip

    @property
    def open(self) -> bool:
        return self in (MemberState.PENDING, MemberState.IN_PROGRESS, MemberState.ROLLING_BACK)


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int
    name: str
    target: str
    """A zoo task or a model name."""
    selector: Mapping[str, str]
    """Any of class, tag, task and endpoint (a glob); all given must match."""
    waves: tuple[int, ...]
    max_concurrent: int
    failure_threshold: float
    """Share of devices finished since `counted_from` that may fail before the rollout
    pauses itself."""
    state: RolloutState
    reason: str | None
    counted_from: float
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class RolloutChange:
    state: RolloutState | Unset = UNSET
    reason: str | Unset | None = UNSET
    max_concurrent: int | Unset = UNSET
    failure_threshold: float | Unset = UNSET
    counted_from: float | Unset = UNSET


@dataclass(frozen=True, slots=True)
class RolloutMember:
    rollout_id: int
    endpoint: str
    wave: int
    state: MemberState
    reason: str | None
    device_class: str | None
    artifact_id: str | None
    previous_artifact_id: str | None
    """What the device ran before: the rollback target."""
    delivery_id: int | None
    finished: float | None


@dataclass(frozen=True, slots=True)
class MemberChange:
    state: MemberState | Unset = UNSET
    reason: str | Unset | None = UNSET
    device_class: str | Unset | None = UNSET
    artifact_id: str | Unset | None = UNSET
    previous_artifact_id: str | Unset | None = UNSET
    delivery_id: int | Unset | None = UNSET
