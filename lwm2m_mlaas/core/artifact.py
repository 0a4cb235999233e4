"""Compiled artifacts and compile outcomes, as the server records them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    id: str
    """SHA-256 of the package file."""
    model: str
    model_version: str
    task: str
    device_class: str
    backend: str
    compiler_version: str
    arena_bytes: int
    model_bytes: int
    package_bytes: int
    quality: Mapping[str, Any]
    path: str
    created: float


@dataclass(frozen=True, slots=True)
class StoredCompile:
    key: str
    task: str
    device_class: str
    compiler_version: str
    artifact: StoredArtifact | None
    reason: str | None
    """Why no variant fits the class (when artifact is None)."""
    seconds: float
    backend: str = "tflm"
    """The runtime compiled for (part of the key; the compile service fills it in)."""
