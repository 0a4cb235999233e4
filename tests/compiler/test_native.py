"""The native backend: fixed-point helpers against numpy, the memory planner, refusals, the
host build against TFLite-Micro on the zoo and MLPerf Tiny models, and the Cortex-M modules'
position independence."""

from __future__ import annotations

import ctypes
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from lwm2m_mlaas.compiler._arrays import load_data, sample_inputs
from lwm2m_mlaas.compiler.backends.native import (
    CORES,
    Buffer,
    HostModel,
    Program,
    UnsupportedModel,
    absolute_relocations,
    build_host,
    build_module,
    compile_tflite,
    macs,
    plan_memory,
    read_tflite,
)
from lwm2m_mlaas.compiler.backends.native import fixedpoint as fp
from lwm2m_mlaas.compiler.backends.native.build import RUNTIME
from lwm2m_mlaas.compiler.backends.native.emit import pack_depthwise, pack_filter
from lwm2m_mlaas.compiler.backends.native.plan import live_together
from lwm2m_mlaas.compiler.measure import estimate_arena
from lwm2m_mlaas.compiler.quantize import quantize
from lwm2m_mlaas.compiler.verify import run_tflm
from lwm2m_mlaas.zoo import Zoo
from tests.helpers import MLPERF_FILES, MLPERF_TINY

pytestmark = pytest.mark.slow

ZOO_TASKS = ("sine", "digits")
RANDOM_INPUTS = 20
TEST_INPUTS = 60

Int8 = np.ndarray[Any, np.dtype[np.int8]]


def test_exported_members() -> None:
    import lwm2m_mlaas.compiler.backends.native as native

    public = sorted(n for n in vars(native) if not n.startswith("_") and n not in (
        "annotations", "build", "emit", "fixedpoint", "graph", "plan"))  # fmt: skip
    assert native.__all__ == public


# -- fixed-point helpers ------------------------------------------------------------------------


def test_quantize_multiplier_matches_frexp() -> None:
    rng = np.random.default_rng(1)
    for real in np.concatenate([rng.uniform(1e-6, 1.0, 200), rng.uniform(1.0, 300.0, 50)]):
        m, shift = fp.quantize_multiplier(float(real))
        q, e = np.frexp(real)
        expected = int(np.floor(q * 2.0**31 + 0.5))  # q > 0: half away from zero is half up
        if expected == 2**31:
            expected, e = 2**30, e + 1
        assert (m, shift) == (expected, e)
        assert 2**30 <= m < 2**31
        assert m * 2.0 ** (shift - 31) == pytest.approx(real, rel=1e-9)
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert fp.quantize_multiplier(2.0**-40) == (0, 0)  # flushed: shift below -31


def _reference_srdhm(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """numpy: the rounded high half of the doubled product, truncating like C++'s division."""
    ab = a.astype(np.int64) * b.astype(np.int64)
    total = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.abs(total) >> 31
    out = np.where(total >= 0, q, -q)
    return np.where((a == b) & (a == fp.INT32_MIN), fp.INT32_MAX, out)


def _reference_rdbpot(x: np.ndarray[Any, Any], e: int) -> np.ndarray[Any, Any]:
    """numpy: round(x / 2**e), ties away from zero, in exact rational arithmetic."""
    x = x.astype(np.int64)
    half = (1 << e) // 2 if e else 0
    magnitude = (np.abs(x) + half) >> e if e else np.abs(x)
    out: np.ndarray[Any, Any] = np.where(x >= 0, magnitude, -magnitude)
    return out


def test_fixed_point_helpers_match_numpy() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(fp.INT32_MIN, fp.INT32_MAX, 2000, dtype=np.int64, endpoint=True)
    b = rng.integers(0, fp.INT32_MAX, 2000, dtype=np.int64, endpoint=True)
    a[:3] = [fp.INT32_MIN, fp.INT32_MAX, 0]
    b[:3] = [fp.INT32_MIN, fp.INT32_MAX, 1 << 30]
    expected = _reference_srdhm(a, b)
    assert [fp.srdhm(int(x), int(y)) for x, y in zip(a, b, strict=True)] == expected.tolist()
    for e in (0, 1, 2, 7, 20, 31):
        got = [fp.rounding_divide_by_pot(int(x), e) for x in a]
        assert got == _reference_rdbpot(a, e).tolist(), e
    # ties: 5/2 -> 3, -5/2 -> -3, 3/2 -> 2, -3/2 -> -2
    assert [fp.rounding_divide_by_pot(x, 1) for x in (5, -5, 3, -3)] == [3, -3, 2, -2]
    # a factor of 0.5 halves; the high multiply rounds a negative tie up (-3.5 -> -3), as
    # gemmlowp's nudge of 1 - 2**30 does
    m, s = fp.quantize_multiplier(0.5)
    assert [fp.multiply_by_quantized_multiplier(x, m, s) for x in (7, -7, 100)] == [4, -3, 50]


@pytest.fixture(scope="module")
def c_fixedpoint(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The runtime's C helpers, wrapped for ctypes."""
    folder = tmp_path_factory.mktemp("fixedpoint")
    source = folder / "fixedpoint.c"
    source.write_text(
        '#include "nn_fixedpoint.h"\n'
        "int32_t srdhm(int32_t a, int32_t b) { return nn_srdhm(a, b); }\n"
        "int32_t rdbpot(int32_t x, int e) { return nn_rdbpot(x, e); }\n"
        "int32_t mbqmr(int32_t x, int32_t m, int s) { return nn_requantize_fast(x, m, s); }\n"
        "int32_t mbqm(int32_t x, int32_t m, int s) { return nn_mbqm(x, m, s); }\n"
        "int32_t expneg(int32_t a) { return nn_exp_on_negative_q5_26(a); }\n"
    )
    library = folder / "fixedpoint.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{RUNTIME}", str(source), "-o", str(library)], check=True)  # fmt: skip
    lib = ctypes.CDLL(str(library))
    for name, args in (("srdhm", 2), ("rdbpot", 2), ("mbqm", 3), ("mbqmr", 3), ("expneg", 1)):
        getattr(lib, name).restype = ctypes.c_int32
        getattr(lib, name).argtypes = [ctypes.c_int32] * args
    return lib


def test_c_runtime_fixed_point_matches_python(c_fixedpoint: ctypes.CDLL) -> None:
    rng = np.random.default_rng(3)
    xs = rng.integers(-(1 << 24), 1 << 24, 500).tolist()
    for real in (0.0003, 0.0123, 0.37, 0.9999, 1.7, 42.0):
        m, s = fp.quantize_multiplier(real)
        for x in xs:
            expected = fp.multiply_by_quantized_multiplier(x, m, s)
            assert c_fixedpoint.mbqm(x, m, s) == expected
            assert c_fixedpoint.mbqmr(x, m, s) == expected  # the branch-free right shift
    # the fast path at the edges: extreme accumulators, ties, the largest right shift
    for x in (fp.INT32_MIN, fp.INT32_MAX, -(1 << 30), (1 << 30) - 1, -1, 0, 1):
        for m, s in ((1 << 30, -1), ((1 << 31) - 1, -31), (1518500250, -7), (1 << 30, 0)):
            expected = fp.multiply_by_quantized_multiplier(x, m, s)
            assert c_fixedpoint.mbqmr(x, m, s) == expected, (x, m, s)
    for x in rng.integers(fp.INT32_MIN, fp.INT32_MAX, 500).tolist():
        assert c_fixedpoint.srdhm(x, 1518500250) == fp.srdhm(x, 1518500250)
        assert c_fixedpoint.rdbpot(x, 13) == fp.rounding_divide_by_pot(x, 13)
    # exp on Q5.26 inputs in [-32, 0]: gemmlowp's polynomial is good to about 1e-6
    for a in np.linspace(-32, 0, 257):
        raw = round(float(a) * 2**26)
        assert c_fixedpoint.expneg(raw) / 2**31 == pytest.approx(np.exp(raw / 2**26), abs=2e-6)


# -- the memory planner -------------------------------------------------------------------------


def _assert_no_live_overlap(plan: Any) -> None:
    for i, p in enumerate(plan.placements):
        assert p.offset % 4 == 0
        assert p.offset + p.buffer.size <= plan.arena_bytes
        for q in plan.placements[i + 1 :]:
            if live_together(p.buffer, q.buffer):
                apart = p.offset + p.buffer.size <= q.offset or q.offset + q.buffer.size <= p.offset
                assert apart, (p, q)


def test_planner_reuses_memory_of_dead_buffers() -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        buffers = []
        for name in range(12):
            first = int(rng.integers(0, 20))
            buffers.append(Buffer(name, int(rng.integers(1, 4000)), first,
                                  first + int(rng.integers(0, 4))))  # fmt: skip
        plan = plan_memory(buffers)
        _assert_no_live_overlap(plan)
        assert plan.arena_bytes <= plan.unshared_bytes
        peak = max(sum(-(-b.size // 4) * 4 for b in buffers if b.first <= t <= b.last)
                   for t in range(25))  # fmt: skip
        assert plan.arena_bytes >= peak
    # a chain a -> b -> c: c reuses a's bytes
    chain = plan_memory([Buffer(0, 100, 0, 1), Buffer(1, 100, 1, 2), Buffer(2, 100, 2, 3)])
    assert chain.arena_bytes == 200
    assert chain.offset(0) == chain.offset(2)


# -- refusals -----------------------------------------------------------------------------------


def _rename_operator(tflite: bytes, index: int, builtin: int) -> bytes:
    """The same flatbuffer with operator `index` turned into another builtin."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    model.subgraphs[0].operators[index].opcodeIndex = len(model.operatorCodes) - 1
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_refuses_an_unsupported_operator_by_name() -> None:
    tflite = _rename_operator((MLPERF_TINY / "ad01_int8.tflite").read_bytes(), 3,
                              schema.BuiltinOperator.TANH)  # fmt: skip
    with pytest.raises(UnsupportedModel, match=r"operator 3 TANH is not supported"):
        compile_tflite(tflite)


def test_refuses_float_tensors_naming_the_type() -> None:
    import tflite_micro

    tflite = (Path(tflite_micro.__file__).parent / "python" / "tflite_micro" /
              "sine_float.tflite").read_bytes()  # fmt: skip
    with pytest.raises(UnsupportedModel, match=r"FULLY_CONNECTED.*float32.*int8 models only"):
        compile_tflite(tflite)


# -- fidelity against TFLite-Micro --------------------------------------------------------------


@pytest.fixture(scope="session")
def native_models(
    trained_zoo: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[bytes, HostModel, Int8]]:
    """name -> (.tflite, host build, int8 test inputs) for the zoo's sine and digits variants
    (test-set inputs plus random ones) and the MLPerf Tiny models (random inputs)."""
    folder = tmp_path_factory.mktemp("native")
    rng = np.random.default_rng(7)
    models: dict[str, tuple[bytes, HostModel, Int8]] = {}

    def add(name: str, tflite: bytes, inputs: Callable[[Program], Int8]) -> None:
        program = compile_tflite(tflite, name)
        models[name] = (tflite, build_host(program, folder / name), inputs(program))

    def random(program: Program) -> Int8:
        return rng.integers(-128, 128, (RANDOM_INPUTS, *program.input.shape), dtype=np.int8)

    zoo = Zoo(trained_zoo)
    for task in ZOO_TASKS:
        for model in zoo.models(task):
            q = quantize(model)
            held_out = sample_inputs(load_data(model.data_path), q.input, TEST_INPUTS)

            def inputs(p: Program, x: Int8 = held_out) -> Int8:
                return np.concatenate([x, random(p)])

            add(model.name, q.tflite, inputs)
    for file in MLPERF_FILES:
        add(file.removesuffix(".tflite"), (MLPERF_TINY / file).read_bytes(), random)
    return models


def _compare(name: str, tflite: bytes, host: HostModel, inputs: Int8) -> None:
    """Bit-exact: every output element equal to TFLite-Micro's."""
    ours = host.invoke(inputs).reshape(len(inputs), -1)
    tflm = run_tflm(tflite, estimate_arena(tflite), inputs).reshape(len(inputs), -1)
    unequal = int(np.sum(ours != tflm))
    assert unequal == 0, f"{name}: {unequal} of {ours.size} output elements differ"


@pytest.mark.parametrize("task", ZOO_TASKS)
def test_zoo_models_match_tflite_micro(
    native_models: dict[str, tuple[bytes, HostModel, Int8]], task: str
) -> None:
    names = [n for n in native_models if n.startswith(f"{task}-")]
    assert len(names) == 3
    for name in names:
        _compare(name, *native_models[name])


@pytest.mark.parametrize("file", MLPERF_FILES)
def test_mlperf_tiny_models_match_tflite_micro(
    native_models: dict[str, tuple[bytes, HostModel, Int8]], file: str
) -> None:
    name = file.removesuffix(".tflite")
    _compare(name, *native_models[name])


def test_arena_is_smaller_than_every_activation_together(
    native_models: dict[str, tuple[bytes, HostModel, Int8]],
) -> None:
    for name, (_, host, _) in native_models.items():
        plan = host.program.plan
        _assert_no_live_overlap(plan)
        if len(plan.placements) > 2:
            assert plan.arena_bytes < plan.unshared_bytes, name


# -- Cortex-M modules ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kws_program() -> Program:
    return compile_tflite((MLPERF_TINY / "kws_ref_model.tflite").read_bytes(), "kws")


@pytest.mark.parametrize("core", list(CORES))
def test_module_is_position_independent(kws_program: Program, core: str, tmp_path: Path) -> None:
    module = build_module(kws_program, core, tmp_path)
    assert absolute_relocations(module.elf) == []
    magic, abi, header_bytes, entry, arena, align, core_code = struct.unpack_from(
        "<IHHIIII", module.image
    )
    assert (magic, abi, header_bytes, entry) == (0x314E4C4D, 1, 104, 128)
    assert (arena, align, core_code) == (kws_program.arena_bytes, 4, CORES[core].code)
    (rank,) = struct.unpack_from("<B", module.image, 25)
    assert rank == 4
    # the weights are in the image; without the DSP extension it is smaller than the .tflite,
    # with it the convolutions' weights are int16 pairs (up to twice the bytes)
    tflite = (MLPERF_TINY / "kws_ref_model.tflite").read_bytes()
    weights = sum(t.nbytes for t in read_tflite(tflite).tensors
                  if t.data is not None and t.dtype == "int8")  # fmt: skip
    assert module.rodata_bytes >= weights
    assert len(module.image) < (2 if CORES[core].dsp else 1) * len(tflite)
    if CORES[core].dsp:
        disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(module.elf)],
                                     capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "smlad" in disassembly


def test_packed_weights_hold_the_filter_as_smlad_lanes() -> None:
    """pack_filter / pack_depthwise: each word's int16 lanes are the weights SMLAD pairs with
    SXTB16 of an input word (bytes 0 and 2, then 1 and 3), zero-padded to whole groups of four
    channels and chunks of four bytes."""
    rng = np.random.default_rng(5)
    filt = rng.integers(-128, 128, (6, 2, 3, 3), dtype=np.int8)  # out_c 6, row of 9 bytes
    words = pack_filter(filt).view(np.uint32).reshape(2, 2, 3, 4, 2)  # group,row,chunk,ch,word
    lanes = np.stack([words & 0xFFFF, words >> 16], -1).astype(np.uint16).view(np.int16)
    rows = np.zeros((8, 2, 12), np.int16)
    rows[:6, :, :9] = filt.reshape(6, 2, 9)
    for g, fy, chunk, c in np.ndindex(2, 2, 3, 4):
        four = rows[g * 4 + c, fy, chunk * 4 : chunk * 4 + 4]
        assert lanes[g, fy, chunk, c].tolist() == [[four[0], four[2]], [four[1], four[3]]]
    dw = rng.integers(-128, 128, (1, 3, 3, 8), dtype=np.int8)
    words = pack_depthwise(dw).view(np.uint32).reshape(2, 9, 2)  # group, tap, word
    lanes = np.stack([words & 0xFFFF, words >> 16], -1).astype(np.uint16).view(np.int16)
    taps = dw.reshape(9, 8)
    for g, t in np.ndindex(2, 9):
        group = taps[t, g * 4 : g * 4 + 4]
        assert lanes[g, t].tolist() == [[group[0], group[2]], [group[1], group[3]]]


@pytest.mark.parametrize(("file", "expected"), [
    ("kws_ref_model.tflite", 2_656_768),  # DS-CNN: 2.66 M MACs, as MLPerf Tiny gives it
    ("pretrainedResnet_quant.tflite", 12_501_632),  # ResNet-8: 12.5 M
    ("ad01_int8.tflite", 264_192),  # the autoencoder: one MAC per weight
])  # fmt: skip
def test_macs_are_counted_from_the_graph(file: str, expected: int) -> None:
    graph = read_tflite((MLPERF_TINY / file).read_bytes())
    counted = macs(graph)
    assert sum(counted.values()) == expected
    weighted = {op.index for op in graph.operators
                if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}  # fmt: skip
    assert set(counted) == weighted
    if file.startswith("ad01"):
        assert expected == sum(graph.tensors[op.inputs[1]].size for op in graph.operators)
