"""What a .tflite flatbuffer says about itself: operators, input and output tensors, activation
size. Read with TFLite-Micro's bundled schema, so no TensorFlow import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from .manifest import TensorSpec

_OP_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
_TYPE_NAMES = {
    code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")
}
_TYPE_BYTES = {
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "int16": 2,
    "float16": 2,
    "int32": 4,
    "float32": 4,
    "int64": 8,
    "float64": 8,
}


class TfliteError(ValueError):
    """Not a TFLite flatbuffer this compiler can handle."""


@dataclass(frozen=True, slots=True)
class Graph:
    ops: tuple[str, ...]
    """Builtin op name of every node, all subgraphs, in order ('CUSTOM:<name>' for custom ops)."""
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    activation_bytes: int
    """Bytes of every non-constant tensor: an upper bound of what the arena's planner packs."""
    requantizing_relu6: int
    """RELU6 nodes whose input and output quantization differ (TFLite-Micro gets them wrong)."""


def read_graph(data: bytes) -> Graph:
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as e:  # the flatbuffers runtime raises anything on garbage
        raise TfliteError(f"not a TFLite flatbuffer: {e!r}") from e
    if not model.subgraphs:
        raise TfliteError("model has no subgraphs")
    ops: list[str] = []
    activation = 0
    requantizing_relu6 = 0
    for subgraph in model.subgraphs:
        for op in subgraph.operators or []:
            name = _op_name(model.operatorCodes[op.opcodeIndex])
            ops.append(name)
            if name == "RELU6" and _quantization(subgraph.tensors[op.inputs[0]]) != _quantization(
                subgraph.tensors[op.outputs[0]]
            ):
                requantizing_relu6 += 1
        for tensor in subgraph.tensors or []:
            buffer = model.buffers[tensor.buffer] if model.buffers else None
            if buffer is None or (buffer.data is None and not buffer.size):
                activation += _tensor_bytes(tensor)
    main = model.subgraphs[0]
    return Graph(
        ops=tuple(ops),
        inputs=tuple(_spec(main.tensors[i]) for i in main.inputs),
        outputs=tuple(_spec(main.tensors[i]) for i in main.outputs),
        activation_bytes=activation,
        requantizing_relu6=requantizing_relu6,
    )


def _op_name(code: Any) -> str:
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
    return str(_OP_NAMES.get(builtin, f"BUILTIN_{builtin}"))


def _quantization(tensor: Any) -> tuple[tuple[float, ...], tuple[int, ...]]:
    q = tensor.quantization
    if q is None or q.scale is None:
        return (), ()
    return tuple(float(s) for s in q.scale), tuple(int(z) for z in q.zeroPoint)


def _spec(tensor: Any) -> TensorSpec:
    scales, zero_points = _quantization(tensor)
    return TensorSpec(
        shape=tuple(int(d) for d in tensor.shape),
        dtype=_TYPE_NAMES.get(tensor.type, f"type{tensor.type}"),
        scale=scales[0] if scales else 0.0,
        zero_point=zero_points[0] if zero_points else 0,
    )


def _tensor_bytes(tensor: Any) -> int:
    n = 1
    for d in tensor.shape if tensor.shape is not None else ():
        n *= max(int(d), 1)
    return n * _TYPE_BYTES.get(_TYPE_NAMES.get(tensor.type, ""), 4)
