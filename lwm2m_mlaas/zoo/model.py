"""What the zoo hands the compiler: a trained (or imported) model and the data to judge it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class TaskKind(StrEnum):
    CLASSIFICATION = "classification"
    """quality: top-1 accuracy on the held-out set"""
    REGRESSION = "regression"
    """quality: R^2 on the held-out set"""
    ANOMALY = "anomaly"
    """autoencoder; anomaly score = mean squared reconstruction error; quality: ROC AUC"""


@dataclass(frozen=True, slots=True)
class ZooModel:
    name: str
    """Unique in the zoo, e.g. 'gesture-s' or an imported model's name."""
    task: str
    variant: str
    version: str
    """Content hash prefix of the trained or imported model."""
    kind: TaskKind
    model_path: Path
    """A .keras file or a SavedModel directory (float, to be quantized), or an int8 .tflite
    file (imported as is)."""
    data_path: Path
    """.npz with `representative` (inputs for quantization), `x_test`, `y_test` (y_test may be
    absent for imported models without labels)."""
    float_quality: float | None
    labels: tuple[str, ...] = ()
    threshold: float | None = None
    """Anomaly tasks: the score above which an input is anomalous (on float outputs)."""
    source: str = "zoo"
    """'zoo' (trained here) or 'import'."""
