"""Persistence: SQLAlchemy 2.0 async; SQLite (aiosqlite) by default."""

from .batch import WriteBatcher
from .repositories import (
    QueuedRequest,
    Repository,
    Store,
    StoredArtifact,
    StoredCompile,
    StoredObservation,
)

__all__ = [
    "QueuedRequest",
    "Repository",
    "Store",
    "StoredArtifact",
    "StoredCompile",
    "StoredObservation",
    "WriteBatcher",
]
