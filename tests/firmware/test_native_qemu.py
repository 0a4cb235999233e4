"""Native-backend modules on QEMU's Cortex-M boards (issue 9, part 3): the modrun app
(firmware_stubs/apps/modrun.c) loads a module and its inputs from host files by semihosting,
copies the module to an address it was not linked at, runs it on every input and writes the
outputs back; they must equal TFLite-Micro's bit for bit for the three MLPerf Tiny models and
three zoo variants (sine-s, digits-s, digits-l) on cortex-m3 (an385, the plain kernels),
cortex-m4f (an386), cortex-m7 (an500) and cortex-m33 (an505) (the DSP cores' packed-weight
kernels)."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import struct
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lwm2m_mlaas.compiler._arrays import load_data, sample_inputs
from lwm2m_mlaas.compiler.backends.native import (
    Module,
    build_module,
    compile_tflite,
)
from lwm2m_mlaas.compiler.measure import estimate_arena
from lwm2m_mlaas.compiler.quantize import quantize
from lwm2m_mlaas.compiler.verify import run_tflm
from lwm2m_mlaas.zoo import Zoo
from tests.firmware.qemu import run_modrun
from tests.helpers import MLPERF_FILES, MLPERF_TINY

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

ZOO_MODELS = ("sine-s", "digits-s", "digits-l")
BOARD_CORES = {
    "mps2-an385": "cortex-m3",
    "mps2-an386": "cortex-m4f",
    "mps2-an500": "cortex-m7",
    "mps2-an505": "cortex-m33",
}
INPUTS = 10

Int8 = np.ndarray[Any, np.dtype[np.int8]]


class Case:
    """One model: its .tflite, int8 inputs, TFLite-Micro's outputs, and its modules per core
    (built on first use)."""

    def __init__(self, name: str, tflite: bytes, inputs: Int8, folder: Path) -> None:
        self.name, self.tflite, self.inputs, self.folder = name, tflite, inputs, folder
        self.program = compile_tflite(tflite, name.replace("-", "_"))
        self.expected = run_tflm(tflite, estimate_arena(tflite), inputs).reshape(len(inputs), -1)
        self._modules: dict[str, Module] = {}

    def module(self, core: str) -> Module:
        if core not in self._modules:
            self._modules[core] = build_module(self.program, core, self.folder / core)
        return self._modules[core]


Cases = Callable[[str], Case]


def _train(root: Path, names: tuple[str, ...]) -> None:
    for name in names:
        Zoo(root).get(name)


def shared_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo root holding ZOO_MODELS, trained once per session (in a spawned process, like the
    service does) and shared by the xdist workers: the first one trains under a lock, the
    others wait for it and read the cache."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "native-qemu-zoo"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if any(Zoo(root).cached(name) is None for name in ZOO_MODELS):
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                pool.submit(_train, root, ZOO_MODELS).result()
    return root


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    """name -> Case, made on first use (the zoo is trained only if a zoo model is asked for):
    MLPerf Tiny models on seeded random inputs, zoo models on their held-out test inputs."""
    folder = tmp_path_factory.mktemp("native-qemu")
    made: dict[str, Case] = {}

    def get(name: str) -> Case:
        if name not in made:
            if name.endswith(".tflite"):
                tflite = (MLPERF_TINY / name).read_bytes()
                shape = compile_tflite(tflite).input.shape
                rng = np.random.default_rng(sum(name.encode()))
                inputs = rng.integers(-128, 128, (INPUTS, *shape), dtype=np.int8)
            else:
                q = quantize(Zoo(shared_zoo(tmp_path_factory)).get(name))
                tflite = q.tflite
                inputs = sample_inputs(load_data(q.model.data_path), q.input, INPUTS)
            made[name] = Case(name, tflite, inputs, folder / name)
        return made[name]

    return get


def assert_matches_tflm(case: Case, out: bytes, where: str, n: int = INPUTS) -> None:
    """`out` (outputs of the first n inputs) equal to TFLite-Micro's, element for element."""
    got = np.frombuffer(out, np.int8)
    assert got.size == n * case.program.output.size, f"{where}: {got.size} output bytes"
    ours = got.reshape(n, -1)
    unequal = int(np.sum(ours != case.expected[:n]))
    assert unequal == 0, f"{where}: {unequal} of {ours.size} output elements differ"


@pytest.mark.parametrize("board", list(BOARD_CORES))
@pytest.mark.parametrize("model", [*MLPERF_FILES, *ZOO_MODELS])
def test_module_on_qemu_matches_tflite_micro(cases: Cases, model: str, board: str,
                                             tmp_path: Path) -> None:  # fmt: skip
    case = cases(model)
    module = case.module(BOARD_CORES[board])
    status, out, log = run_modrun(board, module.image, case.inputs, tmp_path)
    assert status == 0, log
    assert_matches_tflm(case, out, f"{model} on {board}")
    # the module ran where it was not linked (0), and every inference was timed
    base = int(log.split(" B at ")[1].split()[0], 16)
    assert base % 16 == 8, log
    assert len(inference_cycles(log)) == len(case.inputs), log


def test_same_outputs_wherever_module_and_arena_are(cases: Cases, tmp_path: Path) -> None:
    """Position independence: the image at three load offsets and the arena at three 4-byte
    aligned offsets give the same bytes."""
    case = cases("kws_ref_model.tflite")
    image = case.module("cortex-m4f").image
    outputs = set()
    for i, (offset, arena_offset) in enumerate(((8, 4), (4, 12), (0x3004, 0x1000))):
        status, out, log = run_modrun("mps2-an386", image, case.inputs[:3], tmp_path / str(i),
                                      f"offset={offset} arena_offset={arena_offset}")  # fmt: skip
        assert status == 0, log
        outputs.add(out)
    assert len(outputs) == 1


def inference_cycles(log: str) -> list[int]:
    return [int(line.split()[-1]) for line in log.splitlines()
            if line.startswith("modrun: inference ")]  # fmt: skip


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500"])
def test_cycles_count_instructions_under_icount(cases: Cases, board: str, tmp_path: Path) -> None:
    """With -icount the SysTick timestamps are a deterministic measure of work: every kws
    inference (same code path, different data) takes the same cycles within 0.1%, and the
    outputs do not change."""
    case = cases("kws_ref_model.tflite")
    image = case.module(BOARD_CORES[board]).image
    status, out, log = run_modrun(board, image, case.inputs[:4], tmp_path)
    assert status == 0, log
    cycles = inference_cycles(log)
    assert len(cycles) == 4 and min(cycles) > 10_000, log
    assert max(cycles) / min(cycles) < 1.001, cycles
    assert_matches_tflm(case, out, f"kws on {board} with -icount", 4)


def test_profile_build_times_every_layer(cases: Cases, tmp_path: Path) -> None:
    """A profiling build (NN_PROFILE) calls modrun's mark at every operator boundary: one step
    line per operator of the program, their cycles add up to the inference's (less the marks'
    own cost), and the outputs do not change."""
    case = cases("kws_ref_model.tflite")
    module = build_module(case.program, "cortex-m4f", tmp_path / "profile", profile=True)
    status, out, log = run_modrun("mps2-an386", module.image, case.inputs[:2], tmp_path,
                                  "profile=1")  # fmt: skip
    assert status == 0, log
    assert_matches_tflm(case, out, "kws profiled on mps2-an386", 2)
    steps = [int(line.split()[-1]) for line in log.splitlines()
             if line.startswith("modrun: step ")]  # fmt: skip
    assert len(steps) == len(case.program.ops), log
    assert all(n > 0 for n in steps), steps
    total = inference_cycles(log)[0]
    assert 0.98 * total <= sum(steps) <= total, (sum(steps), total)
    # the normal build has no marks: the same module without profile=1 runs as before
    status, _, log = run_modrun("mps2-an386", case.module("cortex-m4f").image, case.inputs[:1],
                                tmp_path / "plain", "profile=0")  # fmt: skip
    assert status == 0 and "modrun: step " not in log, log


def _patched(image: bytes, fmt: str, offset: int, value: int) -> bytes:
    patched = bytearray(image)
    struct.pack_into(fmt, patched, offset, value)
    return bytes(patched)


def test_refuses_bad_modules(cases: Cases, tmp_path: Path) -> None:
    """Another core's module, a bad magic, an unknown ABI version and an arena beyond the
    board's ML arena are refused before anything runs (exit 6, 4, 4, 7)."""
    case = cases("kws_ref_model.tflite")
    m4 = case.module("cortex-m4f").image
    x = case.inputs[:1]
    refused = {
        "core": (case.module("cortex-m7").image, 6, "another core"),
        "magic": (_patched(m4, "<I", 0, 0x314E4C4E), 4, "bad magic"),
        "abi": (_patched(m4, "<H", 4, 2), 4, "ABI version"),
        "arena": (_patched(m4, "<I", 12, 300 * 1024), 7, "arena larger"),
    }
    for what, (image, code, message) in refused.items():
        status, out, log = run_modrun("mps2-an386", image, x, tmp_path / what)
        assert status == code, (what, log)
        assert message in log and out == b"", (what, log)
