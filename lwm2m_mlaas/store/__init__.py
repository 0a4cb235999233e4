"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default."""

from .batch import WriteBatcher
from .repositories import (
    BootstrapRecord,
    Delivery,
    DeviceRecord,
    DeviceTrust,
    QueuedRequest,
    Repository,
    Rollout,
    RolloutMember,
    SignedPackage,
    SigningKey,
    Store,
    StoredArtifact,
    StoredCompile,
    StoredObservation,
)

__all__ = [
    "BootstrapRecord",
    "Delivery",
    "DeviceRecord",
    "DeviceTrust",
    "QueuedRequest",
    "Repository",
    "Rollout",
    "RolloutMember",
    "SignedPackage",
    "SigningKey",
    "Store",
    "StoredArtifact",
    "StoredCompile",
    "StoredObservation",
    "WriteBatcher",
]
