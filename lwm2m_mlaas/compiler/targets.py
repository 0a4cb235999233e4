"""Device classes: what a class of microcontroller offers a model (the catalogue file
device_classes.toml), and how a device is classified from what it reports over LwM2M."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.nodes import MultiResource, ObjectInstance, SingleResource
from .backends.native import CORES, is_native, runtime_for
from .manifest import BACKEND

CATALOGUE = Path(__file__).with_name("device_classes.toml")
ARENA_HEADROOM = 1.10
"""An arena fits when arena * ARENA_HEADROOM + INTERPRETER_BYTES <= the class's ML RAM."""
INTERPRETER_BYTES = 2048
"""TFLite-Micro interpreter and op state outside the arena."""


@dataclass(frozen=True, slots=True)
class DeviceClass:
    name: str
    board: str
    core: str
    clock_mhz: int
    ram_bytes: int
    """The chip's RAM."""
    ml_ram_bytes: int
    """RAM the ML slot may use: arena, interpreter state."""
    ml_flash_bytes: int
    """Flash the ML slot may use: the model package."""
    runtimes: tuple[str, ...]
    ops: frozenset[str]
    delivery: str = "pull"
    """'push' or 'pull': the mode when the device accepts both."""

    def ram_needed(self, arena_bytes: int) -> int:
        """TFLite-Micro: the measured arena with headroom, plus interpreter state."""
        return int(arena_bytes * ARENA_HEADROOM) + INTERPRETER_BYTES

    @property
    def native_runtime(self) -> str | None:
        """The native backend's runtime for this class's core, when the class offers it."""
        native = [r for r in self.runtimes if is_native(r)]
        return native[0] if native else None

    @property
    def preferred_backend(self) -> str | None:
        """What a compile targets unless told otherwise: tflm when the class has it, else its
        native runtime."""
        return BACKEND if BACKEND in self.runtimes else self.native_runtime

    @property
    def compared_backends(self) -> tuple[str | None, ...]:
        """What to compile to compare: the preferred backend (None), and beside it the native
        runtime when the class has one it does not prefer."""
        native = self.native_runtime
        return (None, "native") if native and native != self.preferred_backend else (None,)

    def backend_named(self, backend: str | None) -> str:
        """The runtime a compile for `backend` targets: None is the preferred backend, 'native'
        this core's native runtime; anything else must be a runtime name. Raises ValueError
        for a name that is no runtime at all (whether the class offers it is fit()'s call)."""
        if backend is None:
            return self.preferred_backend or BACKEND
        if backend == "native":
            return self.native_runtime or runtime_for(self.core)
        if backend != BACKEND and not is_native(backend):
            raise ValueError(f"no backend {backend!r}: use {BACKEND}, native or a native "
                             f"runtime such as {runtime_for(self.core)}")  # fmt: skip
        return backend


class CatalogueError(ValueError):
    """The device class catalogue is inconsistent."""


def choose_backend(device_class: DeviceClass, reported_runtimes: Sequence[str]) -> str | None:
    """The backend for a device, from the runtimes it reports (/32100/0/4): the class's native
    runtime when the device runs it (smaller and faster), else TFLite-Micro when it runs that;
    None when it runs neither of the class's runtimes."""
    native = device_class.native_runtime
    if native is not None and native in reported_runtimes:
        return native
    if BACKEND in device_class.runtimes and BACKEND in reported_runtimes:
        return BACKEND
    return None


def _check_runtimes(name: str, core: str, runtimes: tuple[str, ...]) -> None:
    for runtime in runtimes:
        if runtime == BACKEND:
            continue
        if not is_native(runtime):
            raise CatalogueError(f"class {name}: unknown runtime {runtime!r} "
                                 f"(use {BACKEND} or native-<ABI>)")  # fmt: skip
        if core not in CORES:
            raise CatalogueError(f"class {name}: no native modules for a {core}")
        if runtime != runtime_for(core):
            raise CatalogueError(f"class {name}: a {core} runs {runtime_for(core)}, not "
                                 f"{runtime}")  # fmt: skip
    if not runtimes:
        raise CatalogueError(f"class {name}: no runtimes")


@functools.cache
def load_catalogue(path: Path = CATALOGUE) -> Mapping[str, DeviceClass]:
    """The classes of a catalogue file; CatalogueError when a class's runtimes are not those
    of its core."""
    data = tomllib.loads(path.read_text())
    op_sets = {name: frozenset(ops) for name, ops in data.get("ops", {}).items()}
    classes = {}
    for name, entry in data["class"].items():
        ops = entry["ops"]
        _check_runtimes(name, entry["core"], tuple(entry["runtimes"]))
        classes[name] = DeviceClass(
            name=name,
            board=entry["board"],
            core=entry["core"],
            clock_mhz=int(entry["clock_mhz"]),
            ram_bytes=int(entry["ram_kb"]) * 1024,
            ml_ram_bytes=int(entry["ml_ram_kb"]) * 1024,
            ml_flash_bytes=int(entry["ml_flash_kb"]) * 1024,
            runtimes=tuple(entry["runtimes"]),
            ops=op_sets[ops] if isinstance(ops, str) else frozenset(ops),
            delivery=entry.get("delivery", "pull"),
        )
    return classes


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a device reports in /3/0 and the ML Capability object (32100)."""

    core: str
    ml_ram_bytes: int
    ml_flash_bytes: int
    runtimes: tuple[str, ...] = ("tflm",)
    board: str = ""


ML_CAPABILITY = 32100
"""The project's ML Capability object (objects/32100.xml)."""
BOARD = 8
"""ML Capability resource: the board the device names (else its /3/0/1 Model Number)."""


def capabilities_from(device: ObjectInstance, ml_capability: ObjectInstance) -> Capabilities:
    """What a device reports: the ML slot from /32100/0 (core 0, RAM 2, flash 3, runtimes 4,
    board 8), with /3/0/1 (model number) as the board hint when /32100/0/8 is missing."""

    def single(instance: ObjectInstance, resource: int) -> object:
        node = instance.resources.get(resource)
        return node.value if isinstance(node, SingleResource) else None

    runtimes = ml_capability.resources.get(4)
    board = single(ml_capability, BOARD) or single(device, 1) or ""
    core, ram, flash = (single(ml_capability, r) for r in (0, 2, 3))
    if not isinstance(core, str) or not isinstance(ram, int) or not isinstance(flash, int):
        raise ValueError("ML Capability lacks core (0), ML RAM (2) or ML flash (3)")
    reported_runtimes = (
        tuple(str(v) for v in runtimes.instances.values())
        if isinstance(runtimes, MultiResource)
        else ("tflm",)
    )
    return Capabilities(core, ram, flash, reported_runtimes, str(board))


def classify(
    reported: Capabilities, catalogue: Mapping[str, DeviceClass] | None = None
) -> DeviceClass | None:
    """The catalogue class the device's reports prove it is at least: same core, a runtime in
    common, and no more ML RAM or flash than the device reports. Among those, the board it names
    if consistent, else the largest. The board name alone is never trusted."""
    catalogue = load_catalogue() if catalogue is None else catalogue
    candidates = [
        c
        for c in catalogue.values()
        if c.core == reported.core
        and c.ml_ram_bytes <= reported.ml_ram_bytes
        and c.ml_flash_bytes <= reported.ml_flash_bytes
        and set(c.runtimes) & set(reported.runtimes)
    ]
    if not candidates:
        return None
    for candidate in candidates:
        if candidate.name == reported.board:
            return candidate
    return max(candidates, key=lambda c: (c.ml_ram_bytes, c.ml_flash_bytes, c.name))
