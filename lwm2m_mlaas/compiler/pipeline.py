"""The compile pipeline: zoo model variants -> the signed package for one device class.

    quantize -> measure          per variant, independent of the class: measure_variant(),
                                 cacheable per (model name, model version, COMPILER_VERSION)
    fit (check_ops inside) -> verify -> package      per class: compile_measured(); a variant
                                 that fails verification gives way to the next one that fits

The backend is chosen per compile: TFLite-Micro (the .tflite is the payload) or the class's
native runtime, where each variant is first lowered to a module for the class's core (cacheable
per variant and core), and fit -> verify_native -> package take the module.

compile_task() chains both. Everything is synchronous and returns picklable values, for a
process-pool worker; TensorFlow is imported only when a Keras model is quantized or verified.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..zoo.model import ZooModel
from ._version import COMPILER_VERSION as COMPILER_VERSION
from .fit import Candidate, NoFit, fit
from .manifest import BACKEND
from .measure import Measured, measure
from .native import NativeModel, NativeRefusal, lower, verify_native
from .package import package
from .quantize import quantize
from .signing import Signer
from .targets import DeviceClass
from .verify import VerificationError, verify

PACKAGE_SUFFIX = ".pkg"


@dataclass(frozen=True, slots=True)
class Artifact:
    id: str
    """SHA-256 of the package file, hex."""
    model: str
    model_version: str
    task: str
    variant: str
    device_class: str
    backend: str
    """tflm or the native runtime, e.g. native-armv7m."""
    arena_bytes: int
    model_bytes: int
    """The payload: the .tflite, or the native module image."""
    package_bytes: int
    ram_needed: int
    """RAM the class must give the ML slot: TFLite-Micro's arena with headroom plus
    interpreter state, or a native module's arena plus its stack."""
    quality: float | None
    """int8 quality on TFLite-Micro, held-out set."""
    float_quality: float | None
    quality_delta: float | None
    max_step_diff: int
    """TFLite-Micro vs desktop interpreter, in output quantization steps."""
    top1_agreement: float | None
    """Verified against the desktop interpreter (tflm) or TFLite-Micro (native)."""
    compiler_version: str
    package_path: Path


def measure_variant(model: ZooModel) -> Measured:
    """Quantize and measure one variant (does not depend on the device class)."""
    return measure(quantize(model))


def compile_measured(
    variants: Sequence[Measured],
    device_class: DeviceClass,
    signer: Signer,
    work_dir: Path,
    backend: str | None = None,
    lowered: Sequence[NativeModel | NativeRefusal] | None = None,
) -> Artifact | NoFit:
    """The best fitting variant, verified, packaged and written to work_dir/<id>.pkg, for
    `backend` (None: the class's preferred one; 'native': its native runtime). For a native
    backend, `lowered` may bring the variants already lowered for the class's core."""
    try:
        runtime = device_class.backend_named(backend)
    except ValueError as exc:
        return NoFit(device_class.name, str(exc))
    candidates: Sequence[Candidate] = variants
    if runtime != BACKEND and runtime in device_class.runtimes:
        candidates = lowered if lowered is not None else [
            lower(m, device_class.core) for m in variants]  # fmt: skip
    remaining, rejected = list(candidates), list[tuple[str, str]]()
    while True:  # a variant its runtime does not reproduce gives way to the next best one
        fitted = fit(remaining, device_class, runtime)
        if isinstance(fitted, NoFit):
            if not rejected:
                return fitted
            reasons = (*fitted.reasons, *((name, why) for name, why in rejected))
            return NoFit(device_class.name, "; ".join(why for _, why in rejected), reasons)
        native = fitted.native
        try:
            verified = verify(fitted.measured) if native is None else verify_native(native)
            break
        except VerificationError as exc:
            chosen = fitted.measured if native is None else native
            remaining = [c for c in remaining if c is not chosen]
            rejected.append((fitted.measured.name, str(exc)))
    pkg = package(verified, device_class, signer, native)
    path = Path(work_dir) / f"{pkg.id}{PACKAGE_SUFFIX}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_bytes(pkg.data)
        temporary.replace(path)
    model = fitted.measured.quantized.model
    return Artifact(
        id=pkg.id,
        model=model.name,
        model_version=model.version,
        task=model.task,
        variant=model.variant,
        device_class=device_class.name,
        backend=fitted.backend,
        arena_bytes=fitted.arena_bytes,
        model_bytes=fitted.payload_bytes,
        package_bytes=len(pkg.data),
        ram_needed=fitted.ram_needed,
        quality=verified.quality,
        float_quality=verified.float_quality,
        quality_delta=verified.quality_delta,
        max_step_diff=verified.max_step_diff,
        top1_agreement=verified.top1_agreement,
        compiler_version=COMPILER_VERSION,
        package_path=path,
    )


def compile_task(
    models: Sequence[ZooModel],
    device_class: DeviceClass,
    signer: Signer,
    work_dir: Path,
    backend: str | None = None,
) -> Artifact | NoFit:
    """Compile a task's variants for one class: measure_variant() each, then
    compile_measured()."""
    return compile_measured([measure_variant(m) for m in models], device_class, signer, work_dir,
                            backend)  # fmt: skip
