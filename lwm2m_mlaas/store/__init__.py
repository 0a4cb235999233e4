"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default."""

from .batch import WriteBatcher
from .repositories import (
    BootstrapRecord,
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
    "BootstrapRecord",
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
