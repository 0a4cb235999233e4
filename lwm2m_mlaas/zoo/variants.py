"""Size variants of each task's model and the Keras builder that makes them.

Every model is built for TFLite-Micro: a static batch (1 for inference, so Flatten converts to
RESHAPE), ReLU fused into Conv2D/Dense, Conv2D with (k, 1) kernels for time series, and only
CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED and SOFTMAX after conversion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import TaskKind


@dataclass(frozen=True, slots=True)
class Variant:
    task: str
    size: str
    """'s', 'm' or 'l'."""
    filters: tuple[int, ...] = ()
    """Conv2D layers (each followed by max pooling), then Flatten."""
    kernel: tuple[int, int] = (3, 3)
    pool: tuple[int, int] = (2, 2)
    dense: tuple[int, ...] = ()
    """Hidden Dense widths; for anomaly autoencoders the encoder, mirrored as the decoder."""
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 3e-3

    @property
    def name(self) -> str:
        return f"{self.task}-{self.size}"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("gesture", "s", filters=(8, 16), kernel=(5, 1), pool=(4, 1), epochs=12),
        Variant(
            "gesture", "m", filters=(16, 32), kernel=(5, 1), pool=(4, 1), dense=(32,), epochs=12
        ),
        Variant(
            "gesture", "l", filters=(32, 64, 64), kernel=(5, 1), pool=(2, 1), dense=(64,), epochs=12
        ),
        Variant("anomaly", "s", dense=(32, 16), epochs=40),
        Variant("anomaly", "m", dense=(256, 64, 16), epochs=30),
        Variant("anomaly", "l", dense=(384, 128, 16), epochs=30),
        Variant("digits", "s", filters=(8,), epochs=20),
        Variant("digits", "m", filters=(16, 32), dense=(32,), epochs=20),
        Variant("digits", "l", filters=(32, 64), dense=(128,), epochs=20),
        Variant("sine", "s", dense=(16, 16), epochs=60, learning_rate=1e-2),
        Variant("sine", "m", dense=(64, 64), epochs=60, learning_rate=1e-2),
        Variant("sine", "l", dense=(256, 256), epochs=60),
    )
}


def build(
    variant: Variant,
    kind: TaskKind,
    input_shape: tuple[int, ...],
    outputs: int,
    batch_size: int | None = 1,
) -> Any:
    """The variant's keras.Model (uncompiled). Train with batch_size=None, infer with 1."""
    import keras

    inputs = keras.Input(input_shape, batch_size=batch_size, name="input")
    h = inputs
    for i, filters in enumerate(variant.filters):
        h = keras.layers.Conv2D(
            filters, variant.kernel, padding="same", activation="relu", name=f"conv{i}"
        )(h)
        h = keras.layers.MaxPooling2D(variant.pool, name=f"pool{i}")(h)
    if len(h.shape) > 2:
        h = keras.layers.Flatten(name="flatten")(h)
    widths = variant.dense
    if kind is TaskKind.ANOMALY:
        widths = widths + widths[-2::-1]
    for i, width in enumerate(widths):
        h = keras.layers.Dense(width, activation="relu", name=f"dense{i}")(h)
    activation = "softmax" if kind is TaskKind.CLASSIFICATION else None
    h = keras.layers.Dense(outputs, activation=activation, name="output")(h)
    return keras.Model(inputs, h, name=variant.name.replace("-", "_"))
