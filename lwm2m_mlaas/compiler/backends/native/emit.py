"""Stage 2 and 4 of the native backend: each operator becomes a call of one runtime kernel with
its constants (weights, bias, per-channel multipliers and shifts, a parameter block of shapes
and offsets) folded in at compile time; the calls, the constants and the module header become
one C99 translation unit.

The entry point is `int model_invoke(const int8_t *input, int8_t *output, uint8_t *arena)`:
`input` and `output` are the model's int8 tensors (NHWC, batch 1), `arena` holds every
intermediate activation at offsets fixed by the memory plan (4-byte aligned, `arena_bytes`
long). A QUANTIZE from a float32/uint8 graph input or a DEQUANTIZE to a float32 graph output is
left to the caller: the entry takes and returns the int8 tensor inside, and the header's spec
(scale, zero point, flag NATIVE_SPEC_EDGE_CONVERTED) says how to convert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import fixedpoint as fp
from .graph import Graph, Operator, Tensor, UnsupportedModel
from .plan import Buffer, MemoryPlan, plan_memory

ENTRY = "model_invoke"
HEADER_SYMBOL = "native_header"
ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


@dataclass(frozen=True, slots=True)
class Const:
    name: str
    ctype: str
    values: np.ndarray[Any, Any] = field(repr=False)
    condition: str = ""
    """A preprocessor condition the array is compiled under (e.g. only on DSP cores)."""

    @property
    def nbytes(self) -> int:
        """Bytes in the module: an nn_rq record (a row of `values`) is four int32."""
        return 16 * len(self.values) if self.ctype == "nn_rq" else int(self.values.nbytes)


@dataclass(frozen=True, slots=True)
class Step:
    """One kernel call. `call` is a C expression with {in0}, {in1}, {out} for tensor pointers."""

    op: Operator
    kernel: str
    reads: tuple[int, ...]
    write: int
    call: str
    consts: tuple[Const, ...] = ()
    params: tuple[str, str, tuple[int | tuple[int, ...], ...]] | None = None
    """(C type, name, field values in declaration order)."""
    alias: bool = False
    """RESHAPE: the output is the input's bytes under another shape (no code)."""
    dsp_kernel: str = ""
    dsp_call: str = ""
    """The kernel and call on cores with the DSP extension, when they differ."""


@dataclass(frozen=True, slots=True)
class TensorSpecC:
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    edge_converted: bool
    """The .tflite's own graph edge was float32/uint8 and the (de)quantization is the caller's."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled model: the C source and what it needs at run time."""

    source: str = field(repr=False)
    arena_bytes: int
    plan: MemoryPlan
    input: TensorSpecC
    output: TensorSpecC
    ops: tuple[str, ...]
    """The operators called, in order (RESHAPE in place is not a call)."""
    op_indices: tuple[int, ...]
    """Their indices in the graph: step k of a profile (NN_PROFILE build) is op_indices[k]."""
    kernels: tuple[tuple[str, str], ...]
    """The kernel each step calls: (on cores without, on cores with the DSP extension)."""
    const_bytes: int
    """Bytes of weights, biases and requantization constants on cores without the DSP
    extension."""
    dsp_const_bytes: int
    """The same on DSP cores (CONV_2D and DEPTHWISE_CONV_2D weights packed as int16 pairs)."""


# -- lowering -----------------------------------------------------------------------------------


def _int8_weights(graph: Graph, op: Operator, index: int, role: str) -> Tensor:
    t = graph.tensors[index]
    if t.data is None:
        raise UnsupportedModel(f"operator {op.index} {op.name}: {role} is not constant")
    if t.dtype != "int8":
        raise UnsupportedModel(
            f"operator {op.index} {op.name}: {role} {t.name!r} is {t.dtype}, not int8"
        )
    if any(z != 0 for z in t.zero_points):
        raise UnsupportedModel(f"operator {op.index} {op.name}: {role} has a nonzero zero point")
    return t


def _bias(graph: Graph, op: Operator, slot: int, channels: int) -> np.ndarray[Any, Any] | None:
    if len(op.inputs) <= slot or op.inputs[slot] < 0:
        return None
    t = graph.tensors[op.inputs[slot]]
    if t.data is None or t.dtype != "int32":
        raise UnsupportedModel(
            f"operator {op.index} {op.name}: bias {t.name!r} is {t.dtype}, not constant int32"
        )
    return np.asarray(t.data, np.int32).reshape(channels)


def _activation(op: Operator, out: Tensor) -> tuple[int, int]:
    code = int(op.options.get("fusedActivationFunction", 0))
    if code not in (0, 1, 2, 3):
        raise UnsupportedModel(f"operator {op.index} {op.name}: fused activation {code}")
    return fp.activation_range(code, out.scale, out.zero_point)


def requant_records(pairs: list[tuple[int, int]]) -> np.ndarray[Any, Any]:
    """(multiplier, shift) pairs as the kernels' nn_rq records (nn_kernels.h), a row of four
    each: m, then for a right shift r >= 2 the 64-bit p = 2^30 + 2^(30 + r) (low, high word)
    and r - 1; for other shifts 0, 0 and -33 - shift."""
    rows = []
    for m, shift in pairs:
        if shift <= -2:
            p = (1 << 30) + (1 << (30 - shift))
            rows.append((m, p & 0xFFFFFFFF, p >> 32, -shift - 1))
        else:
            rows.append((m, 0, 0, -33 - shift))
    return np.array(rows, np.int64)


def _all_fast(rq: Const) -> int:
    """1 when every record takes nn_rq_apply's one-multiply path (r1 >= 0)."""
    return int(bool((rq.values[:, 3] >= 0).all()))


def _requant(
    op: Operator, prefix: str, inp: Tensor, weights: Tensor, out: Tensor, channels: int
) -> tuple[Const, int]:
    """The requantization records (per channel, or one for the tensor) and the kernels'
    rq_mask: -1 per channel, 0 per tensor."""
    if len(weights.scales) > 1:
        if len(weights.scales) != channels:
            raise UnsupportedModel(f"operator {op.index} {op.name}: {len(weights.scales)} "
                                   f"filter scales for {channels} channels")  # fmt: skip
        pairs = [fp.conv_multiplier(inp.scale, s, out.scale) for s in weights.scales]
        return Const(f"{prefix}_rq", "nn_rq", requant_records(pairs)), -1
    pair = fp.conv_multiplier(inp.scale, weights.scale, out.scale)
    return Const(f"{prefix}_rq", "nn_rq", requant_records([pair])), 0


def _folded_bias(
    consts: list[Const],
    prefix: str,
    bias: np.ndarray[Any, Any] | None,
    wsum: np.ndarray[Any, Any],
    inp: Tensor,
) -> str:
    """The bias with the input offset's share folded in: sum w * (x + offset) + bias is
    sum w * x + (bias + offset * sum w), equal in int32 (wrapping) arithmetic. The kernels
    take it for every tap in the image; a tap in the padding subtracts its offset * w again.
    Inserted after the weights; returns the array's name."""
    total = -int(inp.zero_point) * np.asarray(wsum, np.int64)
    if bias is not None:
        total = total + np.asarray(bias, np.int64)
    wrapped = ((total + 2**31) % 2**32 - 2**31).astype(np.int32)
    consts.insert(1, Const(f"{prefix}_bias", "int32_t", wrapped))
    return f"{prefix}_bias"


def _padding(op: Operator, in_size: int, filt: int, stride: int, dil: int, out_size: int) -> int:
    """TFLite's SAME padding puts the odd pixel at the end; VALID pads nothing."""
    if int(op.options.get("padding", 0)) == 1:  # VALID
        return 0
    effective = (filt - 1) * dil + 1
    total = max(0, (out_size - 1) * stride + effective - in_size)
    return total // 2


def _conv(graph: Graph, op: Operator, prefix: str, depthwise: bool) -> Step:
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    w = _int8_weights(graph, op, op.inputs[1], "filter")
    if len(inp.shape) != 4 or len(out.shape) != 4 or len(w.shape) != 4:
        raise UnsupportedModel(f"operator {op.index} {op.name}: needs 4-D tensors")
    _, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    if depthwise:
        _, f_h, f_w, f_c = w.shape
        if f_c != out_c:
            raise UnsupportedModel(f"operator {op.index} {op.name}: filter depth {f_c} != {out_c}")
        multiplier = out_c // in_c
        if multiplier * in_c != out_c:
            raise UnsupportedModel(f"operator {op.index} {op.name}: {out_c} outputs from {in_c}")
    else:
        f_o, f_h, f_w, f_c = w.shape
        if f_c != in_c or f_o != out_c:
            raise UnsupportedModel(
                f"operator {op.index} {op.name}: grouped convolution is not supported"
            )
        multiplier = 1
    o = op.options
    sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
    dh, dw = int(o.get("dilationHFactor", 1)), int(o.get("dilationWFactor", 1))
    pad_h, pad_w = _padding(op, in_h, f_h, sh, dh, out_h), _padding(op, in_w, f_w, sw, dw, out_w)
    lo, hi = _activation(op, out)
    rq, rq_mask = _requant(op, prefix, inp, w, out, out_c)
    consts = [rq]
    rq_name = rq.name
    consts.insert(0, Const(f"{prefix}_filter", "int8_t", np.asarray(w.data, np.int8).ravel()))
    weights = np.asarray(w.data, np.int64).reshape(w.shape)
    wsum = weights.sum(axis=(0, 1, 2)) if depthwise else weights.sum(axis=(1, 2, 3))
    raw = _bias(graph, op, 2, out_c)
    bias_name = _folded_bias(consts, prefix, raw, wsum, inp)
    clipped = (pad_h or pad_w or (out_h - 1) * sh + (f_h - 1) * dh + 1 > in_h + pad_h
               or (out_w - 1) * sw + (f_w - 1) * dw + 1 > in_w + pad_w)  # fmt: skip
    if clipped:
        consts.insert(2, Const(f"{prefix}_raw_bias", "int32_t",
                               raw if raw is not None else np.zeros(out_c, np.int32)))  # fmt: skip
        raw_name = f"{prefix}_raw_bias"
    else:
        raw_name = bias_name  # no window is clipped by the image
    fields = (in_h, in_w, in_c, out_h, out_w, out_c, f_h, f_w, sh, sw, dh, dw, pad_h, pad_w,
              multiplier, -inp.zero_point, out.zero_point, lo, hi, rq_mask,
              _all_fast(rq))  # fmt: skip
    kernel = "nn_depthwise_conv2d" if depthwise else "nn_conv2d"
    params = ("nn_conv_params", f"{prefix}_p", fields)
    packed = "0, " if depthwise else ""  # the depthwise kernel's packed weights, on DSP cores
    call = (f"{kernel}(&{prefix}_p, {{in0}}, {prefix}_filter, {packed}{bias_name}, {raw_name}, "
            f"{rq_name}, {{out}})")  # fmt: skip
    if depthwise and multiplier == 1 and out_c % 4 == 0:
        consts.append(Const(f"{prefix}_packed", "int32_t",
                            pack_depthwise(np.asarray(w.data, np.int8).reshape(w.shape)),
                            "NN_DSP"))  # fmt: skip
        consts[0] = replace(consts[0], condition="!NN_DSP")
        dsp_call = (f"{kernel}(&{prefix}_p, {{in0}}, 0, {prefix}_packed, {bias_name}, "
                    f"{raw_name}, {rq_name}, {{out}})")  # fmt: skip
        return Step(op, kernel, (inp.index,), out.index, call, tuple(consts), params,
                    dsp_call=dsp_call)  # fmt: skip
    if depthwise or dh != 1 or dw != 1:
        return Step(op, kernel, (inp.index,), out.index, call, tuple(consts), params)
    # DSP cores: int16 pairs; the int8 filter stays only for clipped windows that straddle taps
    consts.append(Const(f"{prefix}_packed", "int32_t",
                        pack_filter(np.asarray(w.data, np.int8).reshape(w.shape)), "NN_DSP"))
    filter_arg = f"{prefix}_filter"
    if in_c % 4 == 0:
        consts[0] = replace(consts[0], condition="!NN_DSP")
        filter_arg = "0"
    dsp_call = (f"nn_conv2d_packed(&{prefix}_p, {{in0}}, {prefix}_packed, {filter_arg}, "
                f"{bias_name}, {raw_name}, {rq_name}, {{out}})")  # fmt: skip
    return Step(op, kernel, (inp.index,), out.index, call, tuple(consts), params,
                dsp_kernel="nn_conv2d_packed", dsp_call=dsp_call)  # fmt: skip


def _fully_connected(graph: Graph, op: Operator, prefix: str) -> Step:
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    w = _int8_weights(graph, op, op.inputs[1], "weights")
    if len(w.shape) != 2:
        raise UnsupportedModel(f"operator {op.index} {op.name}: weights are not 2-D")
    out_depth, accum = w.shape
    if inp.size % accum:
        raise UnsupportedModel(f"operator {op.index} {op.name}: input size {inp.size} / {accum}")
    batches = inp.size // accum
    if out.size != batches * out_depth:
        raise UnsupportedModel(f"operator {op.index} {op.name}: output size {out.size}")
    lo, hi = _activation(op, out)
    rq, rq_mask = _requant(op, prefix, inp, w, out, out_depth)
    consts = [rq]
    consts.insert(0, Const(f"{prefix}_weights", "int8_t", np.asarray(w.data, np.int8).ravel()))
    wsum = np.asarray(w.data, np.int64).reshape(out_depth, accum).sum(axis=1)
    bias_name = _folded_bias(consts, prefix, _bias(graph, op, 2, out_depth), wsum, inp)
    fields = (batches, accum, out_depth, -inp.zero_point, out.zero_point, lo, hi, rq_mask,
              _all_fast(rq))
    return Step(op, "nn_fully_connected", (inp.index,), out.index,
                f"nn_fully_connected(&{prefix}_p, {{in0}}, {prefix}_weights, {bias_name}, "
                f"{rq.name}, {{out}})",
                tuple(consts), ("nn_fc_params", f"{prefix}_p", fields))  # fmt: skip


def _pool(graph: Graph, op: Operator, prefix: str, kind: str) -> Step:
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if len(inp.shape) != 4 or len(out.shape) != 4:
        raise UnsupportedModel(f"operator {op.index} {op.name}: needs 4-D tensors")
    if (inp.scale, inp.zero_point) != (out.scale, out.zero_point):
        raise UnsupportedModel(
            f"operator {op.index} {op.name}: input and output quantization differ"
        )
    _, in_h, in_w, c = inp.shape
    _, out_h, out_w, _ = out.shape
    o = op.options
    f_h, f_w = int(o["filterHeight"]), int(o["filterWidth"])
    sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
    pad_h, pad_w = _padding(op, in_h, f_h, sh, 1, out_h), _padding(op, in_w, f_w, sw, 1, out_w)
    lo, hi = _activation(op, out)
    fields = (in_h, in_w, c, out_h, out_w, f_h, f_w, sh, sw, pad_h, pad_w, lo, hi)
    kernel = "nn_max_pool" if kind == "max" else "nn_average_pool"
    return Step(op, kernel, (inp.index,), out.index, f"{kernel}(&{prefix}_p, {{in0}}, {{out}})",
                (), ("nn_pool_params", f"{prefix}_p", fields))  # fmt: skip


def _add(graph: Graph, op: Operator, prefix: str) -> Step:
    a, b = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    out = graph.tensors[op.outputs[0]]
    if a.shape != b.shape or a.shape != out.shape:
        raise UnsupportedModel(f"operator {op.index} ADD: broadcasting {a.shape} + {b.shape} "
                               "is not supported")  # fmt: skip
    for t in (a, b):
        if t.data is not None:
            raise UnsupportedModel(f"operator {op.index} ADD: constant operand {t.name!r}")
    (m1, s1), (m2, s2), (mo, so) = fp.add_params(a.scale, b.scale, out.scale)
    lo, hi = _activation(op, out)
    records = [tuple(row) for row in requant_records([(m1, s1), (m2, s2), (mo, so)]).tolist()]
    fields: tuple[int | tuple[int, ...], ...] = (
        out.size, -a.zero_point, -b.zero_point, out.zero_point, *records, fp.ADD_LEFT_SHIFT,
        lo, hi)  # fmt: skip
    return Step(op, "nn_add", (a.index, b.index), out.index,
                f"nn_add(&{prefix}_p, {{in0}}, {{in1}}, {{out}})", (),
                ("nn_add_params", f"{prefix}_p", fields))  # fmt: skip


def _softmax(graph: Graph, op: Operator, prefix: str) -> Step:
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if out.zero_point != -128 or np.float32(out.scale) != np.float32(1 / 256):
        raise UnsupportedModel(
            f"operator {op.index} SOFTMAX: int8 output must have scale 1/256 and zero point -128"
        )
    depth = inp.shape[-1]
    m, s, diff_min = fp.softmax_params(inp.scale, float(op.options.get("beta", 1.0)))
    fields = (inp.size // depth, depth, m, s, diff_min)
    return Step(op, "nn_softmax", (inp.index,), out.index,
                f"nn_softmax(&{prefix}_p, {{in0}}, {{out}})", (),
                ("nn_softmax_params", f"{prefix}_p", fields))  # fmt: skip


def _requantize(graph: Graph, op: Operator, prefix: str) -> Step:
    inp, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    m, s = fp.quantize_multiplier(fp.f32(inp.scale) / fp.f32(out.scale))
    fields = (out.size, inp.zero_point, out.zero_point, m, s)
    return Step(op, "nn_requantize", (inp.index,), out.index,
                f"nn_requantize(&{prefix}_p, {{in0}}, {{out}})", (),
                ("nn_requantize_params", f"{prefix}_p", fields))  # fmt: skip


def _lower(graph: Graph, op: Operator) -> Step:
    prefix = f"op{op.index}"
    if op.name == "CONV_2D":
        return _conv(graph, op, prefix, depthwise=False)
    if op.name == "DEPTHWISE_CONV_2D":
        return _conv(graph, op, prefix, depthwise=True)
    if op.name == "FULLY_CONNECTED":
        return _fully_connected(graph, op, prefix)
    if op.name == "MAX_POOL_2D":
        return _pool(graph, op, prefix, "max")
    if op.name == "AVERAGE_POOL_2D":
        return _pool(graph, op, prefix, "average")
    if op.name == "ADD":
        return _add(graph, op, prefix)
    if op.name == "SOFTMAX":
        return _softmax(graph, op, prefix)
    if op.name == "QUANTIZE":
        return _requantize(graph, op, prefix)
    if op.name == "RESHAPE":
        return Step(op, "reshape", (op.inputs[0],), op.outputs[0], "", alias=True)
    raise UnsupportedModel(f"operator {op.index} {op.name} is not supported by the native backend")


def _edges(graph: Graph) -> tuple[int, int, bool, bool, list[Operator]]:
    """The int8 interior input and output, whether each edge is converted by the caller, and
    the operators left after dropping edge QUANTIZE/DEQUANTIZE."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedModel(f"needs one input and one output tensor, has "
                               f"{len(graph.inputs)} and {len(graph.outputs)}")  # fmt: skip
    ops = list(graph.operators)
    inp, out = graph.inputs[0], graph.outputs[0]
    in_edge = out_edge = False
    if graph.tensors[inp].dtype != "int8":
        first = [op for op in ops if inp in op.inputs]
        if len(first) != 1 or first[0].name != "QUANTIZE":
            raise UnsupportedModel(f"input tensor is {graph.tensors[inp].dtype}, not int8, and "
                                   "not quantized by a single QUANTIZE")  # fmt: skip
        ops.remove(first[0])
        inp, in_edge = first[0].outputs[0], True
    if graph.tensors[out].dtype != "int8":
        last = [op for op in ops if out in op.outputs]
        if len(last) != 1 or last[0].name != "DEQUANTIZE":
            raise UnsupportedModel(f"output tensor is {graph.tensors[out].dtype}, not int8, and "
                                   "not made by a DEQUANTIZE")  # fmt: skip
        ops.remove(last[0])
        out, out_edge = last[0].inputs[0], True
    for op in ops:
        if op.name == "DEQUANTIZE" or (
            op.name == "QUANTIZE" and graph.tensors[op.inputs[0]].dtype != "int8"
        ):
            raise UnsupportedModel(
                f"operator {op.index} {op.name} inside the graph: the native backend computes "
                "int8 throughout (float32 tensors only at the edges)"
            )
    return inp, out, in_edge, out_edge, ops


# -- planning and emission ----------------------------------------------------------------------


def compile_graph(graph: Graph, name: str = "model") -> Program:
    inp, out, in_edge, out_edge, ops = _edges(graph)
    steps = [_lower(graph, op) for op in ops]
    root = _roots(graph, steps)
    if root[inp] == root[out]:
        # reshapes only, from input to output: the first one becomes a copy
        i = next(i for i, s in enumerate(steps) if s.alias)
        size = graph.tensors[steps[i].write].size
        steps[i] = Step(steps[i].op, "nn_copy", steps[i].reads, steps[i].write,
                        f"nn_copy({{in0}}, {{out}}, {size})")  # fmt: skip
        root = _roots(graph, steps)
    in_group, out_group = root[inp], root[out]
    _in_place(steps, root, graph, (in_group, out_group))
    # lifetimes of the arena buffers
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for r in step.reads:
            last[root[r]] = max(last.get(root[r], i), i)
        if not step.alias:
            first.setdefault(root[step.write], i)
    buffers = [
        Buffer(r, graph.tensors[r].nbytes, first[r], max(last.get(r, first[r]), first[r]))
        for r in first
        if r not in (in_group, out_group)
    ]
    plan = plan_memory(buffers)

    def pointer(t: int, const: bool) -> str:
        r = root[t]
        if r == in_group:
            return "input"
        if r == out_group:
            return "output"
        return f"(int8_t *)(arena + {plan.offset(r)})"

    consts = [c for s in steps for c in s.consts]
    lines = [
        _banner(name, graph, plan),
        f"#define NN_PROFILE_SLOT {(plan.arena_bytes + 3) // 4 * 4}",
        '#include "nn_kernels.h"',
        '#include "native_module.h"',
        "",
    ]
    for c in consts:
        lines.append(_array(c))
    for s in steps:
        if s.params is not None:
            ctype, pname, values = s.params
            lines.append(
                f"static const {ctype} {pname} = {{{', '.join(map(_initializer, values))}}};"
            )
    lines += ["", "NN_ENTRY_ATTRIBUTES",
              f"int {ENTRY}(const int8_t *input, int8_t *output, uint8_t *arena)", "{",
              "    (void)input; (void)output; (void)arena;", "    NN_MARK(0);"]  # fmt: skip
    called: list[Step] = []
    for s in steps:
        if s.alias:
            lines.append(f"    /* operator {s.op.index} RESHAPE: in place */")
            continue
        args = {f"in{k}": pointer(r, True) for k, r in enumerate(s.reads)}
        args["out"] = pointer(s.write, False)
        lines.append(f"    /* operator {s.op.index} {s.op.name} */")
        if s.dsp_call:
            lines += ["#if NN_DSP", "    " + s.dsp_call.format(**args) + ";", "#else"]
        lines.append("    " + s.call.format(**args) + ";")
        if s.dsp_call:
            lines.append("#endif")
        called.append(s)
        lines.append(f"    NN_MARK({len(called)});")
    lines += ["    return 0;", "}", ""]
    in_spec = _spec(graph.tensors[inp], in_edge)
    out_spec = _spec(graph.tensors[out], out_edge)
    lines.append(_header(plan.arena_bytes, in_spec, out_spec))
    const_bytes = sum(c.nbytes for c in consts if c.condition != "NN_DSP")
    dsp_const_bytes = sum(c.nbytes for c in consts if c.condition != "!NN_DSP")
    return Program("\n".join(lines) + "\n", plan.arena_bytes, plan, in_spec, out_spec,
                   tuple(s.op.name for s in called), tuple(s.op.index for s in called),
                   tuple((s.kernel, s.dsp_kernel or s.kernel) for s in called),
                   const_bytes, dsp_const_bytes)  # fmt: skip


IN_PLACE = frozenset({"nn_add", "nn_requantize"})
"""Element-wise kernels that read element i of every input before they write element i, so
their output may take the bytes of an input that dies at that step."""


def _in_place(
    steps: list[Step], root: dict[int, int], graph: Graph, edges: tuple[int, int]
) -> None:
    last: dict[int, int] = {}
    for i, step in enumerate(steps):
        for r in step.reads:
            last[root[r]] = i
    for i, step in enumerate(steps):
        if step.kernel not in IN_PLACE or root[step.write] in edges:
            continue
        if any(s.alias and root[s.reads[0]] == step.write for s in steps):
            continue  # reshapes of the output would follow it; keep the simple case only
        for r in step.reads:
            donor = root[r]
            if (
                donor not in edges
                and last.get(donor) == i
                and (graph.tensors[donor].nbytes == graph.tensors[step.write].nbytes)
            ):
                root[step.write] = donor
                break


def _roots(graph: Graph, steps: list[Step]) -> dict[int, int]:
    """Storage root of every tensor: a RESHAPE output is its input's bytes."""
    root = {t.index: t.index for t in graph.tensors}
    for step in steps:
        if step.alias:
            root[step.write] = root[step.reads[0]]
    return root


def _spec(t: Tensor, edge: bool) -> TensorSpecC:
    return TensorSpecC(t.shape, t.scale, t.zero_point, edge)


def _banner(name: str, graph: Graph, plan: MemoryPlan) -> str:
    ops = " ".join(op.name for op in graph.operators)
    return (f"/* {name}: generated by lwm2m_mlaas' native backend; do not edit.\n"
            f" * operators: {ops}\n * arena: {plan.arena_bytes} bytes */")  # fmt: skip


def _initializer(value: int | tuple[int, ...]) -> str:
    """An int, or a struct (an nn_rq record) in braces."""
    if isinstance(value, tuple):
        return "{" + ", ".join(str(int(v)) for v in value) + "}"
    return str(int(value))


def _array(c: Const) -> str:
    if c.ctype == "nn_rq":  # records {m, p_lo, p_hi, r1}
        values = [_initializer(tuple(row)) for row in c.values.tolist()]
    else:
        values = [str(int(v)) for v in c.values.ravel()]
    rows = [",".join(values[i : i + 24]) for i in range(0, len(values), 24)]
    text = (
        f"static const {c.ctype} {c.name}[{max(len(values), 1)}] NN_ALIGNED = {{\n"
        + ",\n".join(rows)
        + "};"
    )
    return f"#if {c.condition}\n{text}\n#endif" if c.condition else text


def _smlad_words(w: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Groups of four weights (the last axis) as two int32 words each, (w0 | w2 << 16) and
    (w1 | w3 << 16): the int16 lanes SMLAD (or SMLABB/SMLATT) takes with SXTB16 of an input
    word's bytes 0, 2 and 1, 3. Flattened."""
    low, high = w[..., [0, 1]] & 0xFFFF, w[..., [2, 3]] & 0xFFFF
    return (low | (high << 16)).astype(np.uint32).view(np.int32).ravel()


def pack_depthwise(weights: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """DEPTHWISE_CONV_2D weights (1, f_h, f_w, out_c) int8, out_c a multiple of 4, as
    nn_dw4_packed reads them: per group of four channels and tap, two words (_smlad_words)."""
    _, f_h, f_w, out_c = weights.shape
    w = np.asarray(weights, np.int64).reshape(f_h * f_w, out_c // 4, 4).transpose(1, 0, 2)
    return _smlad_words(w)


def pack_filter(weights: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """CONV_2D weights (out_c, f_h, f_w, in_c) int8 as nn_conv2d_packed reads them: per group of
    four output channels (the last one zero-padded), filter row, and chunk of four bytes of
    the row (the last one zero-padded), for each channel the chunk's two words
    (_smlad_words)."""
    out_c, f_h, f_w, in_c = weights.shape
    run = f_w * in_c
    groups, chunks = -(-out_c // 4), -(-run // 4)
    w = np.zeros((groups * 4, f_h, chunks * 4), np.int64)
    w[:out_c, :, :run] = weights.reshape(out_c, f_h, run)
    # (group, channel, row, chunk, byte) -> (group, row, chunk, channel, byte)
    return _smlad_words(w.reshape(groups, 4, f_h, chunks, 4).transpose(0, 2, 3, 1, 4))


def _header(arena: int, i: TensorSpecC, o: TensorSpecC) -> str:
    def spec(s: TensorSpecC) -> str:
        shape = list(s.shape) + [0] * (6 - len(s.shape))
        flags = "NATIVE_SPEC_EDGE_CONVERTED" if s.edge_converted else "0"
        return (
            f"{{NATIVE_DTYPE_INT8, {len(s.shape)}, {flags}, 0, {s.zero_point}, "
            f"{float(np.float32(s.scale))!r}f, {s.size}, "
            f"{{{', '.join(str(d) for d in shape)}}}}}"
        )

    return (
        f"NN_HEADER_ATTRIBUTES\nconst native_module_header {HEADER_SYMBOL} = {{\n"
        f"    NATIVE_MODULE_MAGIC, NATIVE_MODULE_ABI_VERSION, sizeof(native_module_header),\n"
        f"    NATIVE_ENTRY_OFFSET, {arena}, 4, NATIVE_CORE,\n"
        f"    {spec(i)},\n    {spec(o)}\n}};"
    )
