"""Deterministic training of a task's variant (TensorFlow/Keras: imported only to train).

One compiled loop runs every step (Keras' fit spends most of these tiny models' training time
in per-epoch and per-step overhead); batches come from a seeded shuffle per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .model import TaskKind
from .quality import anomaly_scores, quality
from .tasks import Dataset, Task
from .variants import Variant, build

THRESHOLD_PERCENTILE = 99.0
"""Anomaly threshold: this percentile of the scores of the normal training data."""


@dataclass(frozen=True, slots=True)
class Trained:
    model: Any
    """keras.Model with a static batch of 1."""
    float_quality: float
    threshold: float | None
    params: int


def train(task: Task, variant: Variant, data: Dataset, seed: int) -> Trained:
    """Same seed, data and code -> the same weights (seeded, deterministic TF ops)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    kind = task.kind
    shape = data.x_train.shape[1:]
    outputs = {
        TaskKind.CLASSIFICATION: len(data.labels),
        TaskKind.REGRESSION: 1,
        TaskKind.ANOMALY: int(np.prod(shape)),
    }[kind]
    net = build(variant, kind, shape, outputs, batch_size=None)
    target = data.x_train if kind is TaskKind.ANOMALY else data.y_train
    x, y = _batches(data.x_train, target, variant, np.random.default_rng(seed))
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(variant.learning_rate, len(x))
    )
    optimizer.build(net.trainable_variables)
    loss = (
        keras.losses.SparseCategoricalCrossentropy()
        if kind is TaskKind.CLASSIFICATION
        else keras.losses.MeanSquaredError()
    )

    @tf.function(jit_compile=False)  # type: ignore[untyped-decorator]
    def fit(x: tf.Tensor, y: tf.Tensor) -> None:
        for i in tf.range(tf.shape(x)[0]):
            with tf.GradientTape() as tape:
                value = loss(y[i], net(x[i], training=True))
            gradients = tape.gradient(value, net.trainable_variables)
            optimizer.apply_gradients(zip(gradients, net.trainable_variables, strict=True))

    fit(tf.constant(x), tf.constant(y))
    threshold = None
    if kind is TaskKind.ANOMALY:
        scores = anomaly_scores(data.x_train, np.asarray(net(data.x_train, training=False)))
        threshold = float(np.percentile(scores, THRESHOLD_PERCENTILE))
    model = build(variant, kind, shape, outputs, batch_size=1)
    model.set_weights(net.get_weights())
    predictions = np.asarray(net(data.x_test, training=False))
    return Trained(
        model=model,
        float_quality=quality(kind, data.x_test, data.y_test, predictions),
        threshold=threshold,
        params=int(model.count_params()),
    )


def _batches(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], variant: Variant, rng: np.random.Generator
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(steps, batch, ...) arrays: every epoch a fresh permutation, cut to whole batches."""
    size = variant.batch_size
    whole = len(x) // size * size
    order = np.concatenate([rng.permutation(len(x))[:whole] for _ in range(variant.epochs)])
    return (
        x[order].reshape(-1, size, *x.shape[1:]),
        y[order].reshape(-1, size, *y.shape[1:]),
    )
