"""Stage 3: the smallest tensor arena TFLite-Micro runs the model in, and the model's bytes.

TFLite-Micro's Python wrapper cannot report the arena it used (its recording allocator's total
under-reports) and a far too small arena crashes the process, so every try is a fresh
`python -m lwm2m_mlaas.compiler._tflm_probe` with a timeout. A try succeeds when it exits 0 and
reproduces, bit for bit, the output of the first run with a generous arena. The search is
guided: the first run's recorded total is the first guess, a failed allocation's "missing: N"
says how far to step up (galloping, at least MIN_STEP or 1/8 more each time), then bisection
until the smallest success and the largest failure are PRECISION bytes apart: three to six
tries.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._arrays import load_data, sample_inputs
from .quantize import QuantizedModel
from .tflite import read_graph

ALIGN = 16
PRECISION = 256
"""The reported arena is at most this much above the smallest that works."""
MIN_STEP = 1024
"""The recorded total misses the planner's temporary buffers (a few hundred bytes): step up
from it by at least this much."""
MAX_ARENA = 64 * 1024 * 1024
MAX_TRIES = 24
TRY_TIMEOUT = 60.0


class MeasureError(RuntimeError):
    """TFLite-Micro cannot run the model at all."""


@dataclass(frozen=True, slots=True)
class Measured:
    quantized: QuantizedModel
    arena_bytes: int
    """Smallest working tensor arena, rounded up to 16 bytes."""
    model_bytes: int
    tries: int
    """TFLite-Micro processes it took to find the arena."""

    @property
    def name(self) -> str:
        return self.quantized.model.name

    @property
    def float_quality(self) -> float | None:
        """The variant's quality as the zoo recorded it: how fit() ranks candidates."""
        return self.quantized.model.float_quality


@dataclass(frozen=True, slots=True)
class _Try:
    ok: bool
    output: bytes
    recorded: int | None
    missing: int | None
    reason: str


def measure(q: QuantizedModel) -> Measured:
    x = sample_inputs(load_data(q.model.data_path), q.input, 1, representative=True)[0]
    with tempfile.TemporaryDirectory(prefix="tflm-probe-") as work:
        model_path, input_path = Path(work, "model.tflite"), Path(work, "input.bin")
        model_path.write_bytes(q.tflite)
        input_path.write_bytes(x.tobytes())

        def probe(arena: int) -> _Try:
            return _probe(model_path, input_path, arena, q.output.size)

        tries = 0
        hi = estimate_arena(q.tflite)
        while True:
            first = probe(hi)
            tries += 1
            if first.ok:
                break
            if hi >= MAX_ARENA:
                raise MeasureError(
                    f"{q.model.name}: TFLite-Micro cannot run it with a "
                    f"{MAX_ARENA} B arena: {first.reason}"
                )
            hi = min(hi * 4, MAX_ARENA)
        lo, step, bracketed = 0, 0, False  # lo: largest arena known to fail (0: none yet)
        guess = _align(first.recorded) if first.recorded else None
        while hi - lo > PRECISION and tries < MAX_TRIES:
            arena = guess if guess is not None and lo < guess < hi else _align((lo + hi) // 2)
            result = probe(arena)
            tries += 1
            if result.ok and result.output == first.output:
                hi, bracketed = arena, lo > 0
                guess = None if bracketed else arena - PRECISION
            else:  # gallop up from the estimate until a success brackets the arena
                lo, step = arena, max(result.missing or 0, MIN_STEP, arena // 8, 2 * step)
                guess = None if bracketed else _align(arena + step)
    return Measured(q, hi, q.model_bytes, tries)


def estimate_arena(tflite: bytes) -> int:
    """A generous first arena: twice every non-constant tensor plus room for op state."""
    graph = read_graph(tflite)
    return _align(2 * graph.activation_bytes + 1024 * len(graph.ops) + 16 * 1024)


def _probe(model: Path, x: Path, arena: int, output_size: int) -> _Try:
    command = [
        sys.executable,
        "-m",
        "lwm2m_mlaas.compiler._tflm_probe",
        str(model),
        str(x),
        str(arena),
    ]
    root = str(Path(__file__).resolve().parents[2])  # the probe imports this very package
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TRY_TIMEOUT,
            check=False,
            env={**os.environ, "PYTHONPATH": path},
        )
    except subprocess.TimeoutExpired:
        return _Try(False, b"", None, None, f"no answer within {TRY_TIMEOUT:.0f} s")
    missing = re.search(r"missing: (\d+)", done.stderr)
    recorded = re.search(r"Arena allocation total (\d+) bytes", done.stderr)
    output = b""
    if done.returncode == 0:
        try:
            output = bytes.fromhex(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            output = b""
    ok = done.returncode == 0 and len(output) == output_size
    reason = "" if ok else (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return _Try(
        ok,
        output,
        int(recorded.group(1)) if recorded else None,
        int(missing.group(1)) if missing else None,
        reason,
    )


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN
