"""How good a model is on a held-out set, from its outputs only (float, or int8 outputs
dequantized by the caller), so float and int8 models are judged by the same function."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .model import TaskKind

Array = npt.NDArray[Any]


def quality(kind: TaskKind, x: Array, y: Array | None, predictions: Array) -> float:
    """Top-1 accuracy (classification), R^2 (regression) or ROC AUC of the anomaly score with
    y = 1 for anomalous inputs (anomaly). `x` is only read for anomaly (the autoencoder's
    reconstruction target)."""
    if y is None:
        raise ValueError(f"{kind} quality needs labels (y)")
    predictions = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(y)
    if len(predictions) != len(y):
        raise ValueError(f"{len(predictions)} predictions for {len(y)} labels")
    match kind:
        case TaskKind.CLASSIFICATION:
            return float(np.mean(predictions.reshape(len(y), -1).argmax(axis=1) == y.ravel()))
        case TaskKind.REGRESSION:
            truth = y.reshape(len(y), -1).astype(np.float64)
            residual = np.sum((truth - predictions.reshape(truth.shape)) ** 2)
            return float(1.0 - residual / np.sum((truth - truth.mean(axis=0)) ** 2))
        case TaskKind.ANOMALY:
            from sklearn.metrics import roc_auc_score

            return float(roc_auc_score(y.ravel(), anomaly_scores(x, predictions)))


def anomaly_scores(x: Array, reconstructions: Array) -> Array:
    """Mean squared reconstruction error per input."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.mean((x - np.asarray(reconstructions).reshape(x.shape)) ** 2, axis=1)  # type: ignore[no-any-return]
