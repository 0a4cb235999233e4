"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default."""

from .batch import WriteBatcher
from .repositories import (
    Delivery,
    QueuedRequest,
    Repository,
    Store,
    StoredArtifact,
    StoredCompile,
    StoredObservation,
)

__all__ = [
    "Delivery",
    "QueuedRequest",
    "Repository",
    "Store",
    "StoredArtifact",
    "StoredCompile",
    "StoredObservation",
    "WriteBatcher",
]
