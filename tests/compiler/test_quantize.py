"""Stage 1 (quantize) and 2 (check_ops)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lwm2m_mlaas.compiler import QuantizedModel, QuantizeError, check_ops, load_catalogue, quantize
from lwm2m_mlaas.zoo.model import ZooModel
from tests.helpers import MLPERF_TINY

from .conftest import MLPERF_MODELS

pytestmark = pytest.mark.slow

DYNAMIC_BATCH_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


def test_keras_model_becomes_int8_with_static_batch_and_fused_relu6(
    keras_model: Callable[..., ZooModel],
) -> None:
    import keras

    def head(x: Any) -> Any:  # relu6 as its own layer, and a Flatten, on a dynamic batch
        x = keras.layers.ReLU(max_value=6)(keras.layers.Dense(16)(x))
        return keras.layers.Flatten()(keras.layers.Reshape((4, 4))(x))

    q = quantize(keras_model("dynamic", epochs=0, head=head, batch=None))
    assert (q.input.dtype, q.output.dtype) == ("int8", "int8")
    assert q.input.shape == (1, 8) and q.output.shape == (1, 3)
    assert q.input.scale > 0 and -128 <= q.input.zero_point <= 127
    assert "RELU6" not in q.ops
    assert not DYNAMIC_BATCH_OPS & set(q.ops)
    assert set(q.ops) <= {"FULLY_CONNECTED", "RESHAPE", "SOFTMAX"}
    assert q.tflite[4:8] == b"TFL3"


def test_a_requantizing_standalone_relu6_is_refused(keras_model: Callable[..., ZooModel]) -> None:
    import keras

    def head(x: Any) -> Any:  # nothing to fuse into: a Concatenate precedes it
        both = keras.layers.Concatenate()([keras.layers.Dense(4)(x), keras.layers.Dense(4)(x)])
        return keras.layers.ReLU(max_value=6)(both)

    with pytest.raises(QuantizeError, match="RELU6"):
        quantize(keras_model("relu6", epochs=0, head=head))


def test_imported_int8_models_pass_through_unchanged(mlperf: dict[str, QuantizedModel]) -> None:
    for key, q in mlperf.items():
        assert q.tflite == (MLPERF_TINY / MLPERF_MODELS[key][0]).read_bytes()
        assert (q.input.dtype, q.output.dtype) == ("int8", "int8")
    kws = mlperf["kws"]
    assert kws.input.shape == (1, 49, 10, 1) and kws.output.shape == (1, 12)
    assert kws.input.zero_point == 83 and abs(kws.input.scale - 0.5847) < 1e-4
    assert set(mlperf["ad"].ops) == {"FULLY_CONNECTED"}


def test_an_imported_float_model_is_refused(
    keras_model: Callable[..., ZooModel], tmp_path: Path
) -> None:
    import keras
    import tensorflow as tf

    model = keras_model("float", epochs=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.models.load_model(model.model_path))
    path = tmp_path / "float.tflite"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter's own chatter; not under test
        path.write_bytes(converter.convert())
    with pytest.raises(QuantizeError, match="float32, not int8"):
        quantize(dataclasses.replace(model, model_path=path))


def test_check_ops_names_what_the_class_lacks(mlperf: dict[str, QuantizedModel]) -> None:
    classes = load_catalogue()
    assert check_ops(mlperf["kws"], classes["samd21"]) == (
        "AVERAGE_POOL_2D",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
    )
    assert check_ops(mlperf["ad"], classes["samd21"]) == ()
    for q in mlperf.values():
        assert check_ops(q, classes["nrf52840"]) == ()
