"""Stage 1 of the native backend: the .tflite flatbuffer, read with TFLite-Micro's bundled
schema (no TensorFlow), as a small immutable graph of int8 tensors and operators. Everything the
backend cannot compile is refused here, naming the operator (and the tensor type when it is
not int8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

SUPPORTED_OPS = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEQUANTIZE",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "QUANTIZE",
    "RESHAPE",
    "SOFTMAX",
)
_OP_NAMES = {c: n for n, c in vars(schema.BuiltinOperator).items() if not n.startswith("_")}
_TYPE_NAMES = {c: n.lower() for n, c in vars(schema.TensorType).items() if not n.startswith("_")}
_NUMPY = {"int8": np.int8, "int32": np.int32, "float32": np.float32, "uint8": np.uint8,
          "int16": np.int16, "int64": np.int64}  # fmt: skip


class UnsupportedModel(ValueError):
    """The native backend cannot compile this model (the message names the operator)."""


@dataclass(frozen=True, slots=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int
    data: np.ndarray[Any, Any] | None = field(repr=False, compare=False)
    """The constant value (weights, bias, shape), else None for an activation."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(_NUMPY.get(self.dtype, np.int8)).itemsize

    @property
    def scale(self) -> float:
        return self.scales[0] if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return self.zero_points[0] if self.zero_points else 0


@dataclass(frozen=True, slots=True)
class Operator:
    index: int
    name: str
    inputs: tuple[int, ...]
    """Tensor indices; -1 marks an omitted optional input."""
    outputs: tuple[int, ...]
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Graph:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def ops(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.operators)


def macs(graph: Graph) -> dict[int, int]:
    """Multiply-accumulates of each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED operator (by
    index), from the shapes: one per output element and filter tap."""
    counts = {}
    for op in graph.operators:
        out = graph.tensors[op.outputs[0]]
        weights = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 else None
        if weights is None:
            continue
        if op.name == "CONV_2D":  # filter (out_c, kh, kw, in_c)
            counts[op.index] = out.size * int(np.prod(weights.shape[1:]))
        elif op.name == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, out_c)
            counts[op.index] = out.size * weights.shape[1] * weights.shape[2]
        elif op.name == "FULLY_CONNECTED":  # weights (units, depth)
            counts[op.index] = out.size * weights.shape[-1]
    return counts


def read_tflite(data: bytes) -> Graph:
    """The first subgraph of an int8 .tflite. Raises UnsupportedModel for operators outside
    SUPPORTED_OPS, non-int8 interior tensors, several subgraphs, or batch inputs."""
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception as e:  # the flatbuffers runtime raises anything on garbage
        raise UnsupportedModel(f"not a TFLite flatbuffer: {e!r}") from e
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise UnsupportedModel(f"needs exactly one subgraph, has {len(model.subgraphs or [])}")
    sub = model.subgraphs[0]
    tensors = tuple(_tensor(i, t, model) for i, t in enumerate(sub.tensors or []))
    operators = []
    for i, op in enumerate(sub.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode
            name = f"CUSTOM:{custom.decode() if isinstance(custom, bytes) else custom}"
        else:
            name = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
        options = dict(vars(op.builtinOptions)) if op.builtinOptions is not None else {}
        operators.append(Operator(i, name, tuple(int(x) for x in op.inputs),
                                  tuple(int(x) for x in op.outputs), options))  # fmt: skip
    graph = Graph(tensors, tuple(operators), tuple(int(i) for i in sub.inputs),
                  tuple(int(i) for i in sub.outputs))  # fmt: skip
    _check(graph)
    return graph


def _tensor(index: int, t: Any, model: Any) -> Tensor:
    dtype = _TYPE_NAMES.get(t.type, f"type{t.type}")
    shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
    q = t.quantization
    scales = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
    zps = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None else ()
    buffer = model.buffers[t.buffer] if model.buffers and t.buffer < len(model.buffers) else None
    data = None
    if buffer is not None and buffer.data is not None and len(buffer.data):
        raw = np.asarray(buffer.data, np.uint8).tobytes()
        data = np.frombuffer(raw, _NUMPY.get(dtype, np.uint8)).reshape(shape or (-1,))
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
    qdim = int(q.quantizedDimension) if q is not None else 0
    return Tensor(index, name, shape, dtype, scales, zps, qdim, data)


def _check(graph: Graph) -> None:
    """Refuse what the backend cannot compile, naming the first offending operator."""
    for op in graph.operators:
        where = f"operator {op.index} {op.name}"
        if op.name not in SUPPORTED_OPS:
            raise UnsupportedModel(
                f"{where} is not supported by the native backend "
                f"(supported: {', '.join(SUPPORTED_OPS)})"
            )
        edge = op.name in ("QUANTIZE", "DEQUANTIZE")
        for role, indices in (("input", op.inputs), ("output", op.outputs)):
            for i in indices:
                if i < 0:
                    continue
                t = graph.tensors[i]
                if t.data is not None:
                    continue  # weights, bias and shapes are checked by the lowering
                ok = t.dtype == "int8" or (edge and t.dtype in ("float32", "uint8"))
                if not ok:
                    raise UnsupportedModel(
                        f"{where}: {role} tensor {t.name!r} is {t.dtype}; the native backend "
                        "compiles int8 models only"
                    )
    for i in graph.inputs + graph.outputs:
        t = graph.tensors[i]
        if t.shape and t.shape[0] != 1:
            raise UnsupportedModel(f"tensor {t.name!r} has batch {t.shape[0]}, not 1")
