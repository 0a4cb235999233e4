"""Session fixtures for the compiler tests: tiny Keras models built (and briefly trained) here,
and the three MLPerf Tiny int8 models from ../shared/models/mlperf-tiny (third-party)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lwm2m_mlaas.compiler import Measured, QuantizedModel, measure, quantize
from lwm2m_mlaas.zoo.model import TaskKind, ZooModel
from lwm2m_mlaas.zoo.quality import quality
from tests.helpers import MLPERF_TINY

MLPERF_MODELS = {
    "kws": ("kws_ref_model.tflite", TaskKind.CLASSIFICATION),
    "ic": ("pretrainedResnet_quant.tflite", TaskKind.CLASSIFICATION),
    "ad": ("ad01_int8.tflite", TaskKind.ANOMALY),
}


def _blobs(n: int, seed: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Three Gaussian blobs in 8 dimensions: an easy, deterministic classification task."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(42).normal(0, 2, (3, 8))
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(0, 1, (n, 8))).astype(np.float32), y


@pytest.fixture(scope="session")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., ZooModel]:
    """Factory: a trained dense classifier on the blobs, saved as a zoo model. `hidden` sets its
    size, `head` adds layers before the softmax head (for op tests), `batch` the input batch.
    Made once per name."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    folder = tmp_path_factory.mktemp("keras")
    x_train, y_train = _blobs(600, 1)
    x_test, y_test = _blobs(300, 2)
    data = folder / "blobs.npz"
    np.savez(data, representative=x_train[:200], x_test=x_test, y_test=y_test)

    made: dict[str, ZooModel] = {}

    def make(
        name: str,
        hidden: int = 16,
        epochs: int = 4,
        head: Callable[[Any], Any] | None = None,
        batch: int | None = 1,
    ) -> ZooModel:
        if name in made:
            return made[name]
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8,), batch_size=batch)
        x = keras.layers.Dense(hidden, activation="relu")(inputs)
        if head is not None:
            x = head(x)
        outputs = keras.layers.Dense(3, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        if epochs:
            model.compile(
                optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy"
            )
            model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
        path = folder / f"{name}.keras"
        model.save(path)
        predictions = model.predict(x_test, batch_size=300, verbose=0)
        made[name] = ZooModel(
            name=name,
            task="blobs",
            variant=name,
            version=f"{name}-1",
            kind=TaskKind.CLASSIFICATION,
            model_path=path,
            data_path=data,
            float_quality=quality(TaskKind.CLASSIFICATION, x_test, y_test, predictions),
            labels=("a", "b", "c"),
        )
        return made[name]

    return make


@pytest.fixture(scope="session")
def blobs_small(keras_model: Callable[..., ZooModel]) -> Measured:
    return measure(quantize(keras_model("blobs-s", hidden=8)))


@pytest.fixture(scope="session")
def blobs_large(keras_model: Callable[..., ZooModel]) -> Measured:
    return measure(quantize(keras_model("blobs-l", hidden=64)))


@pytest.fixture(scope="session")
def mlperf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, QuantizedModel]:
    """The MLPerf Tiny models as imported zoo models, with seeded random int8 test inputs and no
    labels (their data sets are not shipped here)."""
    assert MLPERF_TINY.is_dir(), (f"MLPerf Tiny models not found at {MLPERF_TINY} "
                                  "(../shared beside the repo)")  # fmt: skip
    folder = tmp_path_factory.mktemp("mlperf")
    models = {}
    for key, (file, kind) in MLPERF_MODELS.items():
        q = quantize(
            ZooModel(
                key,
                "mlperf",
                key,
                "1",
                kind,
                MLPERF_TINY / file,
                folder / "missing.npz",
                None,
                source="import",
            )
        )
        rng = np.random.default_rng(7)
        data = folder / f"{key}.npz"
        inputs = rng.integers(-128, 128, (24, *q.input.shape[1:]), dtype=np.int8)
        np.savez(data, representative=inputs[:4], x_test=inputs)
        models[key] = quantize(
            ZooModel(key, "mlperf", key, "1", kind, MLPERF_TINY / file, data, None, source="import")
        )
    return models


@pytest.fixture(scope="session")
def mlperf_measured(mlperf: dict[str, QuantizedModel]) -> dict[str, Measured]:
    return {key: measure(q) for key, q in mlperf.items()}
