"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default."""

from .batch import WriteBatcher
from .repositories import (
    Delivery,
    DeviceRecord,
    QueuedRequest,
    Repository,
    Rollout,
    RolloutMember,
    Store,
    StoredArtifact,
    StoredCompile,
    StoredObservation,
)

__all__ = [
    "Delivery",
    "DeviceRecord",
    "QueuedRequest",
    "Repository",
    "Rollout",
    "RolloutMember",
    "Store",
    "StoredArtifact",
    "StoredCompile",
    "StoredObservation",
    "WriteBatcher",
]
