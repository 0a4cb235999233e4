"""The tasks' data recipes: deterministic, split, and shaped as the variants expect."""

from __future__ import annotations

import numpy as np
import pytest

from lwm2m_mlaas.zoo import TaskKind
from lwm2m_mlaas.zoo.tasks import FAULTS, GESTURES, REPRESENTATIVE, TASKS, Dataset

SHAPES = {"gesture": (64, 1, 3), "anomaly": (128,), "digits": (8, 8, 1), "sine": (1,)}


def arrays(data: Dataset) -> list[np.ndarray]:
    return [data.x_train, data.y_train, data.x_test, data.y_test, data.representative]


@pytest.mark.parametrize("name", list(TASKS))
def test_same_seed_same_bytes_other_seed_other_data(name: str) -> None:
    task = TASKS[name]
    first, again, other = task.dataset(7), task.dataset(7), task.dataset(8)
    assert all(
        a.tobytes() == b.tobytes() for a, b in zip(arrays(first), arrays(again), strict=True)
    )
    assert first.x_train.tobytes() != other.x_train.tobytes()


@pytest.mark.parametrize("name", list(TASKS))
def test_splits_shapes_and_representative_set(name: str) -> None:
    data = TASKS[name].dataset(0)
    assert data.x_train.shape[1:] == data.x_test.shape[1:] == SHAPES[name]
    assert data.x_train.dtype == data.x_test.dtype == data.representative.dtype == np.float32
    assert len(data.x_train) == len(data.y_train) and len(data.x_test) == len(data.y_test)
    assert 0 < len(data.representative) <= REPRESENTATIVE
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()
    train_rows = {row.tobytes() for row in data.x_train}
    assert all(row.tobytes() in train_rows for row in data.representative)
    assert not any(row.tobytes() in train_rows for row in data.x_test)


@pytest.mark.parametrize("name", ["gesture", "digits"])
def test_classifiers_see_every_class_in_both_splits(name: str) -> None:
    data = TASKS[name].dataset(0)
    assert TASKS[name].kind is TaskKind.CLASSIFICATION
    classes = set(range(len(data.labels)))
    assert set(data.y_train.tolist()) == set(data.y_test.tolist()) == classes


def test_gesture_classes_are_balanced_and_named_like_magic_wand() -> None:
    data = TASKS["gesture"].dataset(0)
    assert data.labels == GESTURES == ("wing", "ring", "slope", "negative")
    counts = np.bincount(np.concatenate([data.y_train, data.y_test]))
    assert len(set(counts.tolist())) == 1


def test_gesture_windows_read_about_one_g_at_rest() -> None:
    data = TASKS["gesture"].dataset(0)
    magnitude = np.linalg.norm(data.x_train[:, :4, 0, :], axis=-1)  # before most gestures start
    assert 0.8 < float(np.median(magnitude)) < 1.2


def test_anomaly_trains_on_normal_only_and_tests_on_a_mix() -> None:
    data = TASKS["anomaly"].dataset(0)
    assert not data.y_train.any()
    assert sorted(set(data.y_test.tolist())) == [0, 1]
    assert int(data.y_test.sum()) == 100 * len(FAULTS)
    assert data.x_train.min() >= 0.0 and data.x_train.max() < 1.5


def test_sine_is_tflm_hello_world() -> None:
    data = TASKS["sine"].dataset(0)
    assert data.x_train.min() >= 0.0 and data.x_train.max() < 2 * np.pi
    residual = data.y_train - np.sin(data.x_train)
    assert 0.05 < float(residual.std()) < 0.15
