"""Stage 1: a zoo model becomes a full-integer int8 TFLite flatbuffer.

A float Keras model is traced with a static batch of 1 (so Flatten stays one RESHAPE instead of
SHAPE + STRIDED_SLICE + PACK + RESHAPE) and converted with its representative data to int8 ops
with int8 input and output. An imported .tflite passes through unchanged once it is shown to be
int8 in and out. Either way, a RELU6 that requantizes is refused: TFLite-Micro computes it wrong.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..zoo.model import ZooModel
from ._arrays import load_data
from .manifest import TensorSpec
from .tflite import TfliteError, read_graph

REPRESENTATIVE_SAMPLES = 300
"""At most this many representative inputs calibrate the quantization ranges."""


class QuantizeError(ValueError):
    """The model cannot become a TFLite-Micro int8 model."""


@dataclass(frozen=True, slots=True)
class QuantizedModel:
    model: ZooModel
    tflite: bytes = field(repr=False)
    input: TensorSpec
    output: TensorSpec
    ops: tuple[str, ...]
    """Builtin op name of every node, in order."""

    @property
    def model_bytes(self) -> int:
        return len(self.tflite)


def quantize(model: ZooModel) -> QuantizedModel:
    if model.model_path.suffix == ".tflite":
        tflite = model.model_path.read_bytes()
    elif model.model_path.suffix == ".keras" or model.model_path.is_dir():
        tflite = _convert(model)
    else:
        raise QuantizeError(
            f"{model.name}: cannot compile {model.model_path.name} "
            "(expected a .keras file, a SavedModel or an int8 .tflite)"
        )
    try:
        graph = read_graph(tflite)
    except TfliteError as e:
        raise QuantizeError(f"{model.name}: {e}") from e
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise QuantizeError(
            f"{model.name}: needs exactly one input and one output tensor, has "
            f"{len(graph.inputs)} and {len(graph.outputs)}"
        )
    for role, spec in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        if spec.dtype != "int8":
            raise QuantizeError(
                f"{model.name}: {role} is {spec.dtype}, not int8 "
                "(import the float model with representative data instead)"
            )
        if not spec.shape or spec.shape[0] != 1:
            raise QuantizeError(f"{model.name}: {role} shape {spec.shape} is not batch 1")
    if graph.requantizing_relu6:
        raise QuantizeError(
            f"{model.name}: {graph.requantizing_relu6} standalone RELU6 with "
            "different input and output quantization (TFLite-Micro computes "
            "them wrong): fuse relu6 into the Conv/Dense before it"
        )
    return QuantizedModel(model, tflite, graph.inputs[0], graph.outputs[0], graph.ops)


def _convert(model: ZooModel) -> bytes:
    """Full-integer int8 conversion of a .keras model (exported at batch 1 first) or of a
    SavedModel whose serving signature has batch 1 (as the importer writes them)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    representative = load_data(model.data_path).representative
    if representative is None or not len(representative):
        raise QuantizeError(f"{model.name}: no representative data in {model.data_path}")
    with tempfile.TemporaryDirectory() as exported, _quiet():
        if model.model_path.is_dir():
            saved, shape = model.model_path, _signature_shape(model)
        else:
            saved, shape = Path(exported), _export_keras(model, Path(exported))
        samples = np.asarray(representative[:REPRESENTATIVE_SAMPLES], np.float32)
        samples = samples.reshape(-1, *shape)

        def dataset() -> Iterator[list[Any]]:
            for sample in samples:
                yield [sample]

        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        try:
            return bytes(converter.convert())
        except Exception as e:  # the converter raises ConverterError, RuntimeError, ...
            raise QuantizeError(f"{model.name}: int8 conversion failed: {e}") from e


def _export_keras(model: ZooModel, folder: Path) -> tuple[int, ...]:
    """Write the Keras model as a SavedModel with a batch-1 signature; returns its input shape."""
    import keras
    import tensorflow as tf

    keras_model = keras.models.load_model(model.model_path, compile=False)
    if len(keras_model.inputs) != 1:
        raise QuantizeError(f"{model.name}: needs exactly one input")
    shape = (1, *keras_model.inputs[0].shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint(
        "serve",
        lambda x: keras_model(x, training=False),
        input_signature=[tf.TensorSpec(shape, tf.float32)],
    )
    archive.write_out(str(folder))
    return shape


def _signature_shape(model: ZooModel) -> tuple[int, ...]:
    import tensorflow as tf

    signatures = tf.saved_model.load(str(model.model_path)).signatures
    signature = signatures.get("serving_default") or next(iter(signatures.values()), None)
    if signature is None:
        raise QuantizeError(f"{model.name}: the SavedModel has no serving signature")
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise QuantizeError(f"{model.name}: needs exactly one input, has {len(specs)}")
    shape = tuple(specs[0].shape)
    if not shape or shape[0] != 1:
        raise QuantizeError(f"{model.name}: SavedModel input {shape} is not batch 1")
    return tuple(int(d) for d in shape)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints its signatures to stdout (which a `--json` CLI owns) and the
    converter warns about unset input statistics, which full-integer conversion does not use."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        yield
