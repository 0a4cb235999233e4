"""The native backend's stages (backends/native/ does the work): per variant, the quantized
.tflite lowered to a position-independent module for the class's core (lower); the chosen
module proven against TFLite-Micro (verify_native): its host build runs the inputs verify()
uses, and must give TFLite-Micro's outputs, at most FIDELITY_STEPS apart on any value, equal
on at least FIDELITY_EQUAL of them and with the same top-1 class on every input. The golden
vectors are the native outputs, which the device must reproduce.

Synchronous and picklable, for a process-pool worker, like the rest of the pipeline.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..zoo.model import TaskKind
from ._arrays import load_data, sample_inputs
from .backends.native import (
    STATE_BYTES,
    Program,
    UnsupportedModel,
    build_host,
    build_module,
    compile_tflite,
    runtime_for,
    toolchain_available,
)
from .measure import Measured
from .verify import MAX_SAMPLES, VerificationError, Verified, run_tflm, top1_classes, verified

FIDELITY_STEPS = 1
FIDELITY_EQUAL = 0.99
"""The backend's bar (issue 9): outputs equal TFLite-Micro's on at least 99% of the values and
at most one quantization step apart elsewhere, same top-1 class on every input. On the zoo and
MLPerf Tiny models they are equal everywhere."""


@dataclass(frozen=True, slots=True)
class NativeModel:
    """A variant lowered by the native backend and built for one core."""

    measured: Measured
    core: str
    runtime: str
    """The runtime a device reports to run it, e.g. native-armv7m."""
    program: Program = field(repr=False)
    image: bytes = field(repr=False)
    """The module: header at offset 0, position independent."""

    @property
    def name(self) -> str:
        return self.measured.name

    @property
    def arena_bytes(self) -> int:
        """The static memory plan's arena: exact, no headroom needed."""
        return self.program.arena_bytes


@dataclass(frozen=True, slots=True)
class NativeRefusal:
    """A variant the native backend cannot compile, and why."""

    measured: Measured
    reason: str

    @property
    def name(self) -> str:
        return self.measured.name


def native_ram_needed(arena_bytes: int) -> int:
    """RAM a native module needs: its arena and its stack (STATE_BYTES), no interpreter."""
    return arena_bytes + STATE_BYTES


def lower(measured: Measured, core: str, folder: Path | None = None) -> NativeModel | NativeRefusal:
    """Compile the variant's int8 .tflite to C and build the module for `core` (in `folder`,
    else a temporary one). Refused when the backend does not support the model or no Arm
    toolchain is installed."""
    q = measured.quantized
    try:
        program = compile_tflite(q.tflite, _c_name(q.model.name))
    except UnsupportedModel as exc:
        return NativeRefusal(measured, f"has no native module: {exc}")
    if not toolchain_available():
        return NativeRefusal(measured, "has no native module: arm-none-eabi-gcc is not installed")
    if folder is not None:
        module = build_module(program, core, folder)
    else:
        with tempfile.TemporaryDirectory(prefix="native-module-") as work:
            module = build_module(program, core, Path(work))
    return NativeModel(measured, core, runtime_for(core), program, module.image)


def verify_native(native: NativeModel) -> Verified:
    """The module's host build against TFLite-Micro on verify()'s inputs; quality and golden
    vectors from the native outputs."""
    measured = native.measured
    q = measured.quantized
    data = load_data(q.model.data_path)
    inputs = sample_inputs(data, q.input, MAX_SAMPLES)
    micro = run_tflm(q.tflite, measured.arena_bytes, inputs)
    with tempfile.TemporaryDirectory(prefix="native-host-") as work:
        ours = build_host(native.program, Path(work)).invoke(inputs).reshape(micro.shape)
    diff = np.abs(ours.astype(np.int16) - micro.astype(np.int16))
    steps, equal = int(diff.max()), float(np.mean(diff == 0))
    classifier = q.model.kind == TaskKind.CLASSIFICATION
    top1 = float(np.mean(top1_classes(ours) == top1_classes(micro))) if classifier else None
    if steps > FIDELITY_STEPS or equal < FIDELITY_EQUAL or (top1 is not None and top1 < 1.0):
        raise VerificationError(
            f"{q.model.name}: the native module differs from TFLite-Micro by up to {steps} "
            f"steps, equal on {equal:.1%} of the values"
            + (f", same top-1 class on {top1:.1%}" if top1 is not None else "")
        )
    return verified(measured, data, inputs, ours.astype(np.int8), steps, top1)


def _c_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name) or "model"
