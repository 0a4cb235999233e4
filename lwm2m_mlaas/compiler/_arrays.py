"""The model's data file and the int8 <-> float conversions of its tensors (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .manifest import TensorSpec

Array = npt.NDArray[Any]
FALLBACK_SAMPLES = 16
"""Inputs drawn (seeded) when a model comes without any data."""


@dataclass(frozen=True, slots=True)
class ModelData:
    representative: Array | None
    x_test: Array | None
    y_test: Array | None


def load_data(path: Path) -> ModelData:
    if not path.exists():
        return ModelData(None, None, None)
    with np.load(path, allow_pickle=False) as npz:
        return ModelData(
            *(npz[k] if k in npz.files else None for k in ("representative", "x_test", "y_test"))
        )


def to_int8(x: Array, spec: TensorSpec) -> npt.NDArray[np.int8]:
    """Quantize float inputs with the tensor's scale and zero point; int8 inputs (already
    quantized, as imported int8 models may bring) pass as they are."""
    if x.dtype == np.int8:
        return x
    q = np.round(np.asarray(x, np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def to_float(x: Array, spec: TensorSpec) -> npt.NDArray[np.float32]:
    if x.dtype != np.int8:
        return np.asarray(x, np.float32)
    return ((x.astype(np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


def sample_inputs(
    data: ModelData, spec: TensorSpec, limit: int, *, representative: bool = False
) -> npt.NDArray[np.int8]:
    """Up to `limit` int8 inputs shaped (n, *spec.shape): the test set, else the representative
    set (the other way round with `representative`), else seeded random values."""
    sources = (data.x_test, data.representative)
    for x in reversed(sources) if representative else sources:
        if x is not None and len(x):
            return to_int8(x[:limit], spec).reshape(-1, *spec.shape)
    rng = np.random.default_rng(0)
    n = min(limit, FALLBACK_SAMPLES)
    return rng.integers(-128, 128, (n, *spec.shape), dtype=np.int8)
