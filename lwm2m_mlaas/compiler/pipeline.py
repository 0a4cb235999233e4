"""The compile pipeline: zoo model variants -> the signed package for one device class.

    quantize -> measure          per variant, independent of the class: measure_variant(),
                                 cacheable per (model name, model version, COMPILER_VERSION)
    fit (check_ops inside) -> verify -> package      per class: compile_measured()

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
from .fit import NoFit, fit
from .manifest import BACKEND
from .measure import Measured, measure
from .package import package
from .quantize import quantize
from .signing import Signer
from .targets import DeviceClass
from .verify import verify

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
    arena_bytes: int
    model_bytes: int
    package_bytes: int
    ram_needed: int
    """RAM the class must give the ML slot: arena with headroom plus interpreter state."""
    quality: float | None
    """int8 quality on TFLite-Micro, held-out set."""
    float_quality: float | None
    quality_delta: float | None
    max_step_diff: int
    """TFLite-Micro vs desktop interpreter, in output quantization steps."""
    top1_agreement: float | None
    compiler_version: str
    package_path: Path


def measure_variant(model: ZooModel) -> Measured:
    """Quantize and measure one variant (does not depend on the device class)."""
    return measure(quantize(model))


def compile_measured(
    variants: Sequence[Measured], device_class: DeviceClass, signer: Signer, work_dir: Path
) -> Artifact | NoFit:
    """The best fitting variant, verified, packaged and written to work_dir/<id>.pkg."""
    fitted = fit(variants, device_class)
    if isinstance(fitted, NoFit):
        return fitted
    verified = verify(fitted.measured)
    pkg = package(verified, device_class, signer)
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
        backend=BACKEND,
        arena_bytes=fitted.measured.arena_bytes,
        model_bytes=fitted.measured.model_bytes,
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
    models: Sequence[ZooModel], device_class: DeviceClass, signer: Signer, work_dir: Path
) -> Artifact | NoFit:
    """Compile a task's variants for one class: measure_variant() each, then
    compile_measured()."""
    return compile_measured([measure_variant(m) for m in models], device_class, signer, work_dir)
