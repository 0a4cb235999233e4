"""quality(): judged from model outputs only, the same way for float and dequantized int8."""

from __future__ import annotations

import numpy as np
import pytest

from lwm2m_mlaas.zoo import TaskKind, quality


def test_classification_is_top1_accuracy() -> None:
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert quality(TaskKind.CLASSIFICATION, outputs, np.array([0, 1, 1, 1]), outputs) == 0.75


def test_regression_is_r_squared() -> None:
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert quality(TaskKind.REGRESSION, y, y, y.ravel()) == 1.0
    assert quality(TaskKind.REGRESSION, y, y, np.full(4, 2.5)) == 0.0
    assert quality(TaskKind.REGRESSION, y, y, y + 0.5) == pytest.approx(1 - 1.0 / 5.0)


def test_anomaly_is_roc_auc_of_reconstruction_error() -> None:
    x = np.zeros((4, 3))
    reconstructions = np.array([[0.1] * 3, [0.2] * 3, [0.9] * 3, [0.3] * 3])
    assert quality(TaskKind.ANOMALY, x, np.array([0, 0, 1, 1]), reconstructions) == 1.0
    assert quality(TaskKind.ANOMALY, x, np.array([1, 1, 0, 0]), reconstructions) == 0.0
    assert quality(TaskKind.ANOMALY, x, np.array([0, 1, 1, 0]), reconstructions) == 0.75


def test_labels_are_needed() -> None:
    with pytest.raises(ValueError, match="needs labels"):
        quality(TaskKind.CLASSIFICATION, np.zeros((2, 1)), None, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        quality(TaskKind.REGRESSION, np.zeros((2, 1)), np.zeros(2), np.zeros(3))
