"""Native backend benchmark (issues 9 and 20): per model, the native module's arena against
TFLite-Micro's smallest working arena, module bytes per core against the .tflite bytes, the
multiply-accumulates (from the graph), instructions per inference and per MAC on Cortex-M3,
M4F, M7 and M33 under QEMU, and the instructions of each layer on one core. The bars (exit 1 if
one fails): geometric mean of native / TFLite-Micro arena at most 0.7 and every model at most
1.0; every output equal to TFLite-Micro's on every core; on the M4F, KWS at most 7 M and
ResNet at most 15 M instructions per inference and, over all 15 models, a geometric mean of
at most 2.5 instructions per MAC.

    python benchmarks/native.py [--zoo DIR] [--inputs 3] [--workers 2] [--models A,B]
                                [--profile CORE|none] [--json]

Models: every zoo variant (trained on first use into --zoo, a temporary folder by default; an
existing zoo folder is reused) and the three MLPerf Tiny models in ../shared/models/mlperf-tiny.

- TFLite-Micro arena: lwm2m_mlaas.compiler.measure, the smallest arena (to 256 bytes, rounded
  up to 16) with which a fresh interpreter reproduces the generous arena's output.
- Native arena: the module header's arena_bytes (the static memory plan); the module needs no
  other RAM but its stack.
- Module bytes: the flat image the firmware loads (header, code, weights), per core.
- Instructions: firmware_stubs/apps/modrun.c runs the module on `--inputs` inputs under
  `qemu-system-arm -icount shift=0`, where the virtual clock advances exactly 1 ns per guest
  instruction. modrun timestamps each inference with SysTick (its current value plus the
  platform's millisecond count: single-cycle resolution), whose clock is the board's 25 MHz
  in virtual time, so instructions = cycles x 40. Resolution: one SysTick cycle, 40
  instructions; the timestamp reads (about 30 instructions, under one cycle) are subtracted
  and the 1 ms SysTick interrupt (about 10 instructions per 1,000,000) is included. This is
  an instruction count, not a cycle count of real silicon (QEMU models no pipeline, no wait
  states, no caches). A calibration module, a loop of exactly 2,000,003 instructions, checks
  the method on each board first (exit 2 if it is off by more than 0.1%).

- Per-layer profile (`--profile`, the M4F by default): a profiling build of each module
  (NN_MARK in native_module.h) calls modrun's mark at every operator boundary; modrun shows
  the SysTick cycles of each step of the first input less the mark's own cost, converted to
  instructions as above.

Exit status: 0 PASS, 1 FAIL (the arena bar), 2 the instruction calibration failed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from lwm2m_mlaas.compiler import Measured, measure, quantize
from lwm2m_mlaas.compiler._arrays import load_data, sample_inputs
from lwm2m_mlaas.compiler.backends.native import (
    CORES,
    Program,
    build_module,
    compile_tflite,
    macs,
    read_tflite,
)
from lwm2m_mlaas.compiler.verify import run_tflm
from lwm2m_mlaas.zoo import Zoo
from lwm2m_mlaas.zoo.model import TaskKind, ZooModel

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MLPERF_FILES = ("ad01_int8.tflite", "kws_ref_model.tflite", "pretrainedResnet_quant.tflite")
FIRMWARE = ROOT / "firmware_stubs"
TIMED = {"cortex-m3": "mps2-an385", "cortex-m4f": "mps2-an386", "cortex-m7": "mps2-an500",
         "cortex-m33": "mps2-an505"}
"""Cores whose instructions per inference are measured, and the QEMU board of each."""
NS_PER_INSTRUCTION = 1
"""-icount shift=0: 2**0 ns of virtual time per instruction."""
CALIBRATION_LOOP = 1_000_000
CALIBRATION_TOLERANCE = 0.001
"""The calibration loop must measure within 0.1% of its instruction count (else exit 2)."""
GEOMEAN_BAR = 0.7
MAX_BAR = 1.0
SPEED_CORE = "cortex-m4f"
INSTRUCTION_BARS = {"kws_ref_model": 7_000_000, "pretrainedResnet_quant": 15_000_000}
"""Instructions per inference on SPEED_CORE, at most."""
PER_MAC_BAR = 2.5
"""Geometric mean of instructions per MAC on SPEED_CORE over every model, at most (checked
when no --models filter is given)."""
QEMU_TIMEOUT = 300.0

Int8 = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Layer:
    op_index: int
    op: str
    kernel: str
    macs: int
    instructions: int

    @property
    def per_mac(self) -> float:
        return self.instructions / self.macs if self.macs else math.nan


@dataclass
class Row:
    name: str
    tflite_bytes: int
    tflm_arena: int
    native_arena: int
    module_bytes: dict[str, int]
    io_bytes: int = 0
    """The caller's input and output buffers (TFLite-Micro keeps them in its arena)."""
    macs: int = 0
    """Multiply-accumulates per inference (convolutions and fully connected layers)."""
    instructions: dict[str, int] = field(default_factory=dict)
    """Median instructions per inference, per timed core."""
    spread: dict[str, float] = field(default_factory=dict)
    """(max - min) / median of the timed inferences, per timed core."""
    equal_to_tflm: dict[str, float] = field(default_factory=dict)
    """Fraction of output elements equal to TFLite-Micro's, per timed core."""
    layers: list[Layer] = field(default_factory=list)
    """The per-layer profile on the profiled core, step by step."""

    @property
    def ratio(self) -> float:
        return self.native_arena / self.tflm_arena

    def per_mac(self, core: str) -> float:
        return self.instructions[core] / self.macs if self.macs else math.nan

    @property
    def io_ratio(self) -> float:
        """The ratio counting the input and output buffers the module leaves to its caller."""
        return (self.native_arena + self.io_bytes) / self.tflm_arena


# -- models -------------------------------------------------------------------------------------


def models(zoo_root: Path, folder: Path) -> list[ZooModel]:
    """Every zoo variant (trained if missing), then the MLPerf Tiny models as imported models
    with seeded random int8 inputs (their data sets are not shipped)."""
    zoo = Zoo(zoo_root)
    found = [zoo.get(name) for name in Zoo.catalogue()]
    for file in MLPERF_FILES:
        data = folder / f"{file}.npz"
        shape = compile_tflite((MLPERF / file).read_bytes()).input.shape
        x = np.random.default_rng(7).integers(-128, 128, (8, *shape), dtype=np.int8)
        np.savez(data, representative=x[:4], x_test=x)
        found.append(ZooModel(file.removesuffix(".tflite"), "mlperf", "import", "1",
                              TaskKind.CLASSIFICATION, MLPERF / file, data, None,
                              source="import"))  # fmt: skip
    return found


# -- QEMU ---------------------------------------------------------------------------------------


def build_modrun(board: str, folder: Path) -> Path:
    """firmware_stubs/apps/modrun.c on the platform alone, in a private build folder."""
    build = folder / "firmware" / board
    done = subprocess.run(["make", "-C", str(FIRMWARE), "--no-print-directory", f"BOARD={board}",
                           "APP=modrun", "APP_SRC=", f"BUILD={build}"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"building modrun for {board} failed:\n{done.stdout}{done.stderr}")
    return build / "modrun.elf"


@dataclass(frozen=True)
class Run:
    outputs: bytes
    cycles: list[int]
    sysclk_hz: int
    steps: list[int]
    """SysTick cycles of each step of the first inference (profiling builds)."""

    def _instructions(self, cycles: list[int]) -> list[int]:
        ns_per_cycle = 1e9 / self.sysclk_hz
        return [round(c * ns_per_cycle / NS_PER_INSTRUCTION) for c in cycles]

    @property
    def instructions(self) -> list[int]:
        return self._instructions(self.cycles)

    @property
    def step_instructions(self) -> list[int]:
        return self._instructions(self.steps)


def run_modrun(board: str, elf: Path, image: bytes, inputs: Int8, folder: Path,
               profile: bool = False) -> Run:  # fmt: skip
    """modrun under -icount shift=0: the outputs and SysTick cycles of every inference (and of
    every step, for a profiling build)."""
    folder.mkdir(parents=True, exist_ok=True)
    module, inputs_file, outputs = folder / "module.bin", folder / "in.bin", folder / "out.bin"
    module.write_bytes(image)
    inputs_file.write_bytes(np.ascontiguousarray(inputs, np.int8).tobytes())
    cmdline = f"module={module} inputs={inputs_file} outputs={outputs} count={len(inputs)}"
    cmdline += " profile=1" if profile else ""
    # subprocess.run kills QEMU if it outlives the timeout
    done = subprocess.run(["qemu-system-arm", "-M", board, "-icount", "shift=0", "-nographic",
                           "-no-reboot", "-kernel", str(elf), "-semihosting-config",
                           "enable=on,target=native", "-append", cmdline],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=QEMU_TIMEOUT, check=False)  # fmt: skip
    log = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"modrun on {board} exited {done.returncode}:\n{log}{done.stderr}")
    cycles = [int(line.split()[-1]) for line in log.splitlines()
              if line.startswith("modrun: inference ")]  # fmt: skip
    steps = [int(line.split()[-1]) for line in log.splitlines()
             if line.startswith("modrun: step ")]  # fmt: skip
    sysclk = int(log.split(" sysclk ")[1].split()[0])
    return Run(outputs.read_bytes(), cycles, sysclk, steps)


def calibration_module(core: str, folder: Path) -> bytes:
    """A module whose model_invoke is a loop of exactly 2 * CALIBRATION_LOOP + 3 instructions
    (ldr, then subs/bne per iteration, movs, bx) and touches neither input, output nor arena."""
    folder.mkdir(parents=True, exist_ok=True)
    source, obj, text = folder / "loop.s", folder / "loop.o", folder / "loop.bin"
    source.write_text(
        ".syntax unified\n.thumb\n.text\n"
        f"ldr r3, ={CALIBRATION_LOOP}\n1: subs r3, #1\nbne 1b\nmovs r0, #0\nbx lr\n.ltorg\n"
    )
    spec = CORES[core]
    subprocess.run(["arm-none-eabi-gcc", *spec.flags, "-mthumb", "-c", str(source), "-o",
                    str(obj)], check=True)  # fmt: skip
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(obj),
                    str(text)], check=True)  # fmt: skip
    tensor = bytes([1, 1, 0, 0]) + (0).to_bytes(4, "little") + np.float32(1).tobytes() + \
        (1).to_bytes(4, "little") + (1).to_bytes(4, "little") + bytes(20)  # fmt: skip
    header = (0x314E4C4D).to_bytes(4, "little") + (1).to_bytes(2, "little") + \
        (104).to_bytes(2, "little") + (128).to_bytes(4, "little") + (0).to_bytes(4, "little") + \
        (4).to_bytes(4, "little") + spec.code.to_bytes(4, "little") + tensor + tensor  # fmt: skip
    assert len(header) == 104
    return header.ljust(128, b"\0") + text.read_bytes()


def calibrate(board: str, core: str, elf: Path, folder: Path) -> dict[str, Any]:
    run = run_modrun(board, elf, calibration_module(core, folder / "calibration"),
                     np.zeros((1, 1), np.int8), folder / "calibration")  # fmt: skip
    expected = 2 * CALIBRATION_LOOP + 3
    measured = run.instructions[0]
    return {"board": board, "expected": expected, "measured": measured,
            "error": measured / expected - 1, "cycles": run.cycles[0],
            "sysclk_hz": run.sysclk_hz}  # fmt: skip


# -- the benchmark ------------------------------------------------------------------------------


def profile_layers(program: Program, graph_macs: dict[int, int], core: str, elf: Path,
                   inputs: Int8, folder: Path) -> list[Layer]:  # fmt: skip
    """Instructions of each step of the first input on `core`, from a profiling build."""
    module = build_module(program, core, folder, profile=True)
    run = run_modrun(TIMED[core], elf, module.image, inputs[:1], folder / "run", profile=True)
    counts = run.step_instructions
    if len(counts) != len(program.ops):
        raise RuntimeError(f"profile of {len(counts)} steps for {len(program.ops)} operators")
    dsp = CORES[core].dsp
    return [Layer(i, op, kernels[dsp], graph_macs.get(i, 0), n)
            for i, op, kernels, n in zip(program.op_indices, program.ops, program.kernels, counts,
                                         strict=True)]  # fmt: skip


def bench(zoo_root: Path, folder: Path, n_inputs: int, workers: int, names: set[str] | None,
          profiled: str | None,
          console: Console) -> tuple[list[Row], list[dict[str, Any]]]:  # fmt: skip
    elves = {core: build_modrun(board, folder) for core, board in TIMED.items()}
    calibration = [calibrate(TIMED[core], core, elf, folder) for core, elf in elves.items()]
    with console.status("zoo models (trained on first use)"):
        chosen = [m for m in models(zoo_root, folder) if names is None or m.name in names]
        quantized = [quantize(m) for m in chosen]
    with console.status("TFLite-Micro's smallest arenas"), ThreadPoolExecutor(workers) as pool:
        measured: list[Measured] = list(pool.map(measure, quantized))
    rows = []
    for m in measured:
        q = m.quantized
        with console.status(f"{q.model.name}: modules and QEMU runs"):
            program = compile_tflite(q.tflite, q.model.name.replace("-", "_"))
            work = folder / q.model.name
            modules = {core: build_module(program, core, work / core) for core in CORES}
            graph_macs = macs(read_tflite(q.tflite))
            row = Row(q.model.name, len(q.tflite), m.arena_bytes, program.arena_bytes,
                      {core: len(module.image) for core, module in modules.items()},
                      program.input.size + program.output.size,
                      sum(graph_macs.values()))  # fmt: skip
            inputs = sample_inputs(load_data(q.model.data_path), q.input, n_inputs)
            expected = run_tflm(q.tflite, m.arena_bytes, inputs).reshape(len(inputs), -1)
            for core, board in TIMED.items():
                run = run_modrun(board, elves[core], modules[core].image, inputs,
                                 work / f"run-{core}")  # fmt: skip
                counts = run.instructions
                median = statistics.median(counts)
                row.instructions[core] = round(median)
                row.spread[core] = (max(counts) - min(counts)) / median if median else 0.0
                ours = np.frombuffer(run.outputs, np.int8).reshape(expected.shape)
                row.equal_to_tflm[core] = float(np.mean(ours == expected))
            if profiled:
                row.layers = profile_layers(program, graph_macs, profiled, elves[profiled],
                                            inputs, work / f"profile-{profiled}")  # fmt: skip
        rows.append(row)
    return rows, calibration


SHORT = {"cortex-m0plus": "M0+", "cortex-m3": "M3", "cortex-m4f": "M4F", "cortex-m7": "M7",
         "cortex-m33": "M33"}  # fmt: skip


def report_layers(rows: list[Row], core: str, console: Console) -> None:
    for r in rows:
        total = sum(layer.instructions for layer in r.layers) or 1
        table = Table(title=f"{r.name}: instructions per layer on the {SHORT[core]} "
                      f"(first input), {total:,} in all")  # fmt: skip
        for column in ("op", "operator", "kernel", "MACs", "instructions", "per MAC", "share"):
            table.add_column(column, justify="left" if column in ("operator", "kernel")
                             else "right")  # fmt: skip
        for layer in r.layers:
            table.add_row(str(layer.op_index), layer.op, layer.kernel, f"{layer.macs:,}",
                          f"{layer.instructions:,}",
                          f"{layer.per_mac:.2f}" if layer.macs else "",
                          f"{layer.instructions / total:.1%}")  # fmt: skip
        console.print(table)


def report(rows: list[Row], calibration: list[dict[str, Any]], n_inputs: int,
           console: Console) -> dict[str, Any]:  # fmt: skip
    for c in calibration:
        console.print(f"calibration on {c['board']}: a {c['expected']:,}-instruction loop "
                      f"measured {c['measured']:,} ({c['cycles']:,} SysTick cycles at "
                      f"{c['sysclk_hz'] / 1e6:g} MHz, error {c['error']:+.4%})")  # fmt: skip
    short = SHORT
    table = Table(title="Arena (bytes of RAM) against TFLite-Micro's smallest; instructions per "
                  f"inference under QEMU -icount (median of {n_inputs}); outputs equal to "
                  "TFLite-Micro's")  # fmt: skip
    for column in ("model", "TFLM arena", "native arena", "ratio", "ratio with I/O", "MACs",
                   *(f"{short[c]} instructions" for c in TIMED), "equal"):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        table.add_row(r.name, f"{r.tflm_arena:,}", f"{r.native_arena:,}", f"{r.ratio:.3f}",
                      f"{r.io_ratio:.3f}", f"{r.macs:,}",
                      *(f"{r.instructions[c]:,}" for c in TIMED),
                      f"{min(r.equal_to_tflm.values()):.2%}")  # fmt: skip
    console.print(table)
    per_mac = Table(title="Instructions per multiply-accumulate, per core")
    for column in ("model", *(short[c] for c in TIMED)):
        per_mac.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        per_mac.add_row(r.name, *(f"{r.per_mac(c):.2f}" for c in TIMED))
    geomeans = {c: math.exp(sum(math.log(r.per_mac(c)) for r in rows) / len(rows))
                for c in TIMED}  # fmt: skip
    per_mac.add_row("geometric mean", *(f"{geomeans[c]:.2f}" for c in TIMED))
    console.print(per_mac)
    sizes = Table(title="Module bytes (the flat image: header, code, weights) per core against "
                  "the .tflite")  # fmt: skip
    for column in ("model", ".tflite", *(short[c] for c in CORES), "M4F / .tflite"):
        sizes.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        sizes.add_row(r.name, f"{r.tflite_bytes:,}", *(f"{r.module_bytes[c]:,}" for c in CORES),
                      f"{r.module_bytes['cortex-m4f'] / r.tflite_bytes:.3f}")  # fmt: skip
    console.print(sizes)
    ratios = [r.ratio for r in rows]
    geomean = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    worst = max(rows, key=lambda r: r.ratio)
    passed = geomean <= GEOMEAN_BAR and worst.ratio <= MAX_BAR
    calibrated = all(abs(c["error"]) <= CALIBRATION_TOLERANCE for c in calibration)
    if not calibrated:
        console.print("[bold red]instruction counts are not trustworthy: the calibration loop "
                      f"is off by more than {CALIBRATION_TOLERANCE:.1%}[/]")  # fmt: skip
    module_vs_tflite = [r.module_bytes["cortex-m4f"] / r.tflite_bytes for r in rows]
    io_geomean = math.exp(sum(math.log(r.io_ratio) for r in rows) / len(rows))
    io_worst = max(rows, key=lambda r: r.io_ratio)
    console.print(
        f"native / TFLite-Micro arena: geometric mean {geomean:.3f} (bar <= {GEOMEAN_BAR}), "
        f"max {worst.ratio:.3f} ({worst.name}; bar <= {MAX_BAR}); with the caller's input and "
        f"output buffers {io_geomean:.3f} and {io_worst.io_ratio:.3f}; "
        f"M4F module / .tflite: geometric mean "
        f"{math.exp(sum(map(math.log, module_vs_tflite)) / len(rows)):.3f}: "
        + ("[bold green]PASS[/]" if passed else "[bold red]FAIL[/]")
    )
    exact = all(min(r.equal_to_tflm.values()) == 1.0 for r in rows)
    speed = {r.name: r.instructions[SPEED_CORE] for r in rows if r.name in INSTRUCTION_BARS}
    fast = all(n <= INSTRUCTION_BARS[name] for name, n in speed.items())
    every_model = len(rows) == len(Zoo.catalogue()) + len(MLPERF_FILES)
    per_mac_ok = geomeans[SPEED_CORE] <= PER_MAC_BAR or not every_model
    console.print(
        "outputs equal to TFLite-Micro's on every core: " + ("yes" if exact else "[bold]no[/]")
        + "; on the " + SHORT[SPEED_CORE] + ": "
        + "".join(f"{name} {n / 1e6:.2f} M instructions (bar <= "
                  f"{INSTRUCTION_BARS[name] / 1e6:g} M), " for name, n in speed.items())
        + f"geometric mean {geomeans[SPEED_CORE]:.2f} instructions per MAC"
        + (f" (bar <= {PER_MAC_BAR})" if every_model else " (bar over all models only)")
        + ": " + ("[bold green]PASS[/]" if exact and fast and per_mac_ok else "[bold red]FAIL[/]")
    )  # fmt: skip
    passed = passed and exact and fast and per_mac_ok
    return {
        "models": [{"model": r.name, "tflite_bytes": r.tflite_bytes,
                    "tflm_arena_bytes": r.tflm_arena, "native_arena_bytes": r.native_arena,
                    "arena_ratio": r.ratio, "arena_ratio_with_io": r.io_ratio,
                    "module_bytes": r.module_bytes, "macs": r.macs,
                    "instructions_per_inference": r.instructions,
                    "instructions_per_mac": {c: r.per_mac(c) for c in TIMED},
                    "instruction_spread": r.spread, "equal_to_tflm": r.equal_to_tflm,
                    "layers": [{"op_index": x.op_index, "op": x.op, "kernel": x.kernel,
                                "macs": x.macs, "instructions": x.instructions}
                               for x in r.layers]}
                   for r in rows],
        "calibration": calibration,
        "instructions_per_mac_geomean": geomeans,
        "arena_ratio_geomean": geomean,
        "arena_ratio_max": worst.ratio,
        "arena_ratio_with_io_geomean": io_geomean,
        "arena_ratio_with_io_max": io_worst.io_ratio,
        "pass": passed,
        "calibrated": calibrated,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--zoo", type=Path, help="zoo folder to use (trained where missing)")
    parser.add_argument("--inputs", type=int, default=3, help="timed inferences per model")
    parser.add_argument("--workers", type=int, default=2, help="parallel arena measurements")
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--profile", default="cortex-m4f", choices=[*TIMED, "none"],
                        help="core of the per-layer profile, or none")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    stream = sys.stderr if args.json else sys.stdout
    console = Console(stderr=args.json, width=None if stream.isatty() else 110)
    with tempfile.TemporaryDirectory(prefix="native-bench-") as work:
        folder = Path(work)
        zoo_root = args.zoo or folder / "zoo"
        names = set(args.models.split(",")) if args.models else None
        profiled = None if args.profile == "none" else args.profile
        rows, calibration = bench(zoo_root, folder, args.inputs, args.workers, names, profiled,
                                  console)  # fmt: skip
    if profiled:
        report_layers(rows, profiled, console)
    summary = report(rows, calibration, args.inputs, console)
    if args.json:
        print(json.dumps(summary, indent=2))
    if not summary["calibrated"]:
        return 2
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
