"""Stage 4: the most accurate variant that fits a device class, or why none does.

For TFLite-Micro (candidates are Measured): a candidate fits when the class runs TFLite-Micro,
registers every op it uses, has the RAM for its arena (plus headroom and interpreter state,
DeviceClass.ram_needed) and the flash for its package.

For a native runtime (candidates are the variants lowered for the class's core, native.py): the
class must offer that runtime; the ops are the ones the backend compiled in (a variant it
refused does not fit, for the reason it gave); RAM is the module's static arena, exact, plus
its stack (STATE_BYTES: no interpreter); flash is the module image plus the same allowance for
the manifest.

Candidates rank by quality (the zoo's float quality; unknown ranks last), then by the smaller
arena. When none fits, the reason names the candidate closest to fitting: a RAM or flash
shortfall (smallest ratio of needed to offered) before missing ops (fewest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .manifest import BACKEND
from .measure import Measured
from .native import NativeModel, NativeRefusal, native_ram_needed
from .ops import check_ops
from .targets import DeviceClass
from .verify import GOLDEN_COUNT

Candidate = Measured | NativeModel | NativeRefusal
"""Measured for TFLite-Micro; a variant lowered (or refused) by the native backend."""

MANIFEST_BYTES = 1024
"""Room for the manifest's fixed fields, the COSE envelope and the signature."""


@dataclass(frozen=True, slots=True)
class Fitted:
    measured: Measured
    device_class: DeviceClass
    ram_needed: int
    package_bytes: int
    """Upper bound of the package size (estimate_package_bytes)."""
    native: NativeModel | None = None
    """The module, when the backend is native."""

    @property
    def backend(self) -> str:
        return BACKEND if self.native is None else self.native.runtime

    @property
    def arena_bytes(self) -> int:
        return self.measured.arena_bytes if self.native is None else self.native.arena_bytes

    @property
    def payload_bytes(self) -> int:
        """The .tflite or the module image."""
        return self.measured.model_bytes if self.native is None else len(self.native.image)


@dataclass(frozen=True, slots=True)
class NoFit:
    device_class: str
    reason: str
    """Why the candidate closest to fitting does not, e.g. 'gesture-m needs 14.1 KB RAM (...),
    samd21 offers 12.0 KB'."""
    reasons: tuple[tuple[str, str], ...] = ()
    """(variant name, why it does not fit) for every candidate."""


def fit(
    candidates: Sequence[Candidate], device_class: DeviceClass, backend: str = BACKEND
) -> Fitted | NoFit:
    cls = device_class
    if backend not in cls.runtimes:
        return NoFit(
            cls.name,
            f"{cls.name} has no {backend} runtime (offers {', '.join(cls.runtimes) or 'none'})",
        )
    if not candidates:
        return NoFit(cls.name, "no model variants to choose from")
    misfits: list[tuple[tuple[int, float], str, str]] = []
    fitting: list[Fitted] = []
    for c in candidates:
        if isinstance(c, NativeRefusal):
            misfits.append(((1, 1), c.name, c.reason))
            continue
        if isinstance(c, NativeModel) != (backend != BACKEND):
            raise TypeError(f"{type(c).__name__} is not a candidate for {backend}")
        m = c.measured if isinstance(c, NativeModel) else c
        if isinstance(c, NativeModel):
            missing: tuple[str, ...] = ()
            arena, ram = c.arena_bytes, native_ram_needed(c.arena_bytes)
            flash, state = estimate_package_bytes(m, len(c.image)), "stack"
        else:
            missing = check_ops(m.quantized, cls)
            arena, ram = m.arena_bytes, cls.ram_needed(m.arena_bytes)
            flash, state = estimate_package_bytes(m), "headroom and interpreter"
        if missing:
            ops = "op" if len(missing) == 1 else "ops"
            misfits.append(
                (
                    (1, len(missing)),
                    m.name,
                    f"{ops} {', '.join(missing)} not supported by {cls.name}",
                )
            )
        elif ram > cls.ml_ram_bytes or flash > cls.ml_flash_bytes:
            shortfalls = []
            if ram > cls.ml_ram_bytes:
                shortfalls.append(
                    f"needs {_kb(ram)} RAM ({_kb(arena)} arena + {state}), "
                    f"{cls.name} offers {_kb(cls.ml_ram_bytes)}"
                )
            if flash > cls.ml_flash_bytes:
                shortfalls.append(
                    f"needs {_kb(flash)} flash for the package, {cls.name} "
                    f"offers {_kb(cls.ml_flash_bytes)}"
                )
            ratio = max(ram / cls.ml_ram_bytes, flash / cls.ml_flash_bytes)
            misfits.append(((0, ratio), m.name, "; ".join(shortfalls)))
        else:
            native = c if isinstance(c, NativeModel) else None
            fitting.append(Fitted(m, cls, ram, flash, native))
    if fitting:
        return min(fitting, key=_preference)
    reasons = tuple((name, why) for _, name, why in misfits)
    _, name, why = min(misfits, key=lambda misfit: misfit[0])
    return NoFit(cls.name, f"{name} {why}", reasons)


def estimate_package_bytes(m: Measured, payload_bytes: int | None = None) -> int:
    """Payload (the .tflite unless given), golden vectors, names and labels, and a fixed
    allowance for everything else."""
    q, model = m.quantized, m.quantized.model
    payload = m.model_bytes if payload_bytes is None else payload_bytes
    golden = GOLDEN_COUNT * (q.input.size + q.output.size + 8)
    texts = (model.name, model.version, model.task, model.variant, *model.labels)
    return payload + golden + sum(len(t.encode()) + 4 for t in texts) + MANIFEST_BYTES


def _preference(f: Fitted) -> tuple[float, int, int, str]:
    quality = f.measured.float_quality
    return (
        -quality if quality is not None else float("inf"),
        f.arena_bytes,
        f.payload_bytes,
        f.measured.name,
    )


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"
