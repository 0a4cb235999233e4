"""Stage 5: prove the int8 model on TFLite-Micro before it ships.

- int8 quality of TFLite-Micro's outputs (dequantized) on the held-out set, next to the float
  quality the zoo recorded;
- TFLite-Micro against the desktop TFLite interpreter (its reference kernels, which TFLite-Micro's
  are ported from; the optimized XNNPACK/ruy kernels round differently again) on the same
  inputs. FULLY_CONNECTED still rounds one step differently now and then, and a softmax after it
  turns one logit step into up to ~10 output steps (ResNet-8 on noise: 11), so the check is a
  tolerance: at most TOLERANCE_STEPS output quantization steps apart on every value, and for
  classifiers the same top-1 class on at least MIN_TOP1_AGREEMENT of the inputs;
- golden vectors: the first GOLDEN_COUNT test inputs and the exact int8 outputs TFLite-Micro
  gave, for the device to reproduce.

TFLite-Micro runs in this process (measure() showed the arena suffices); only the desktop
comparison imports TensorFlow.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from tflite_micro import runtime

from ..zoo.model import TaskKind
from ..zoo.quality import quality
from ._arrays import ModelData, load_data, sample_inputs, to_float
from .manifest import GoldenVector, Manifest
from .measure import Measured

TOLERANCE_STEPS = 16
MIN_TOP1_AGREEMENT = 0.99
GOLDEN_COUNT = 4
MAX_SAMPLES = 2000
"""At most this many held-out inputs are run (all of them for the zoo's test sets)."""

Int8Array = npt.NDArray[np.int8]


class VerificationError(RuntimeError):
    """TFLite-Micro does not reproduce the desktop interpreter within the tolerance."""


@dataclass(frozen=True, slots=True)
class Verified:
    measured: Measured
    quality: float | None
    """int8 quality on TFLite-Micro (None without labels)."""
    float_quality: float | None
    quality_delta: float | None
    """quality - float_quality."""
    samples: int
    max_step_diff: int
    """Largest |TFLite-Micro - desktop| over all outputs, in quantization steps (native
    backends: |native - TFLite-Micro|)."""
    top1_agreement: float | None
    """Classifiers: share of inputs where both runtimes pick the same class."""
    golden: tuple[GoldenVector, ...]


def verify(measured: Measured) -> Verified:
    q = measured.quantized
    data = load_data(q.model.data_path)
    inputs = sample_inputs(data, q.input, MAX_SAMPLES)
    micro = run_tflm(q.tflite, measured.arena_bytes, inputs)
    desktop = run_desktop(q.tflite, inputs)
    steps = int(np.max(np.abs(micro.astype(np.int16) - desktop.astype(np.int16))))
    classifier = q.model.kind == TaskKind.CLASSIFICATION
    top1 = float(np.mean(top1_classes(micro) == top1_classes(desktop))) if classifier else None
    if steps > TOLERANCE_STEPS or (top1 is not None and top1 < MIN_TOP1_AGREEMENT):
        raise VerificationError(
            f"{q.model.name}: TFLite-Micro differs from the desktop interpreter by up to "
            f"{steps} steps (tolerance {TOLERANCE_STEPS})"
            + (f", same top-1 class on {top1:.1%}" if top1 is not None else "")
        )
    return verified(measured, data, inputs, micro, steps, top1)


def verified(measured: Measured, data: ModelData, inputs: Int8Array, outputs: Int8Array,
             steps: int, top1: float | None) -> Verified:  # fmt: skip
    """The Verified record of a runtime's `outputs` for `inputs`: int8 quality on the held-out
    set and golden vectors from those outputs; steps and top1 as compared by the caller."""
    q = measured.quantized
    int8_quality = None
    if data.x_test is not None and data.y_test is not None:
        n = len(inputs)
        predictions = to_float(outputs, q.output).reshape(n, *q.output.shape[1:])
        x = to_float(data.x_test[:n], q.input)
        int8_quality = quality(q.model.kind, x, data.y_test[:n], predictions)
    float_quality = q.model.float_quality
    delta = None if int8_quality is None or float_quality is None else int8_quality - float_quality
    golden = tuple(
        GoldenVector(i.tobytes(), o.tobytes())
        for i, o in zip(inputs[:GOLDEN_COUNT], outputs[:GOLDEN_COUNT], strict=True)
    )
    return Verified(measured, int8_quality, float_quality, delta, len(inputs), steps, top1, golden)


def run_tflm(tflite: bytes, arena_bytes: int, inputs: Int8Array) -> Int8Array:
    """Outputs of TFLite-Micro for each input (inputs shaped (n, *input shape))."""
    interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=arena_bytes)
    outputs = []
    for x in inputs:
        interpreter.set_input(x, 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0), np.int8))
    return np.stack(outputs)


def golden_matches(manifest: Manifest, payload: bytes) -> tuple[int, int]:
    """(golden vectors reproduced bit for bit, golden vectors) by a fresh TFLite-Micro
    interpreter with the manifest's arena: the check a device makes before it runs a model."""
    if not manifest.golden:
        return 0, 0
    inputs = np.stack([np.frombuffer(g.input, np.int8).reshape(manifest.input.shape)
                       for g in manifest.golden])  # fmt: skip
    outputs = run_tflm(payload, manifest.arena_bytes, inputs)
    exact = sum(out.tobytes() == g.output for out, g in zip(outputs, manifest.golden, strict=True))
    return exact, len(manifest.golden)


def run_desktop(tflite: bytes, inputs: Int8Array) -> Int8Array:
    """Outputs of the desktop TFLite interpreter (TensorFlow's reference kernels)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*tf.lite.Interpreter is deprecated", UserWarning)
        interpreter = tf.lite.Interpreter(
            model_content=tflite,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        )
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_tensor(output_index), np.int8))
    return np.stack(outputs)


def top1_classes(outputs: Int8Array) -> npt.NDArray[np.intp]:
    classes: npt.NDArray[np.intp] = outputs.reshape(len(outputs), -1).argmax(axis=1)
    return classes
