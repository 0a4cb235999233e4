"""The model zoo: tasks, their size variants, deterministic training, imported models."""

from .importer import (
    DataShapeMismatch,
    MissingRepresentativeData,
    ModelImportError,
    NotInt8Model,
    UnknownModelFormat,
)
from .model import TaskKind, ZooModel
from .quality import quality
from .registry import UnknownModel, Zoo

__all__ = [
    "DataShapeMismatch",
    "MissingRepresentativeData",
    "ModelImportError",
    "NotInt8Model",
    "TaskKind",
    "UnknownModel",
    "UnknownModelFormat",
    "Zoo",
    "ZooModel",
    "quality",
]
