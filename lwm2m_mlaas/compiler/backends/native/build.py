"""Stage 5 of the native backend: compile the emitted C.

- Host: the system gcc builds a shared object that ctypes loads, for fast fidelity tests.
- Cortex-M: arm-none-eabi-gcc builds one position-independent module per core: code and
  constants only, every global reached PC-relative (-fPIE with text-relative data, all symbols
  static), no libc (libgcc's helpers only), linked at 0 by module.ld with --emit-relocs so the
  ELF keeps every relocation the linker resolved; `absolute_relocations` lists those that would
  need a load-time fix-up (the tests assert there are none). objcopy gives the flat image with
  the header at offset 0 and model_invoke at NATIVE_ENTRY_OFFSET.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .emit import ENTRY, Program

RUNTIME = Path(str(resources.files(__package__) / "runtime"))
WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
ENTRY_OFFSET = 128
ARM_PREFIX = "arm-none-eabi-"


class BuildError(RuntimeError):
    """The C compiler or linker failed, or the module is not position independent."""


@dataclass(frozen=True, slots=True)
class Core:
    name: str
    code: int
    """NATIVE_CORE_* in native_module.h."""
    flags: tuple[str, ...]
    dsp: bool
    abi: str
    """Architecture and float ABI the module is built for: modules of one ABI run on every
    core of it."""
    opt: str = "-Os"
    """Optimization level: -O2 on the cores of ARMv7-M and ARMv8-M mainline (each layer's kernels
    inlined with its shapes as constants: about a third fewer instructions on the M3 for some
    2 KB more code), -Os on the M0+."""

    @property
    def runtime(self) -> str:
        """The runtime name a device reports (/32100/0/4) to run this core's modules."""
        return RUNTIME_PREFIX + self.abi


RUNTIME_PREFIX = "native-"

CORES: dict[str, Core] = {
    c.name: c
    for c in (
        Core("cortex-m0plus", 1, ("-mcpu=cortex-m0plus", "-mfloat-abi=soft"), False, "armv6m"),
        Core("cortex-m3", 2, ("-mcpu=cortex-m3", "-mfloat-abi=soft"), False, "armv7m", "-O2"),
        Core("cortex-m4f", 3, ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), True,
             "armv7em-hardfp", "-O2"),
        Core("cortex-m7", 4, ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"), True,
             "armv7em-hardfp", "-O2"),
        Core("cortex-m33", 5, ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"), True,
             "armv8m-main-hardfp", "-O2"),
    )
}  # fmt: skip

STATE_BYTES = 1024
"""RAM a native module needs besides its arena: no interpreter, no heap, no op state, only the
call stack of model_invoke -> kernel -> pixel helper -> requantization (under 600 bytes on
every core by -fstack-usage; the deepest is a clipped CONV_2D window copied to the stack,
NN_PAD_WINDOW) and the loader's few words, with margin for an interrupt's frame."""


def runtime_for(core: str) -> str:
    """The native runtime a core's devices report, e.g. 'native-armv7m' for a Cortex-M3
    (KeyError for a core without native modules)."""
    return CORES[core].runtime


def is_native(runtime: str) -> bool:
    return runtime.startswith(RUNTIME_PREFIX)


@functools.cache
def source_digest() -> str:
    """SHA-256 (hex, 16 digits) of the backend's own sources and C runtime: part of every
    cache key of its output, so a changed backend compiles again."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted([*package.glob("*.py"), *RUNTIME.glob("*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]

MODULE_FLAGS = (
    "-mthumb", "-ffreestanding", "-fPIE", "-mpic-data-is-text-relative",
    "-fno-common", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables",
    "-fno-tree-loop-distribute-patterns", "-ffunction-sections", "-fdata-sections",
    "-DNATIVE_MODULE_BUILD",
)  # fmt: skip

PC_RELATIVE = frozenset({
    "R_ARM_NONE", "R_ARM_V4BX", "R_ARM_REL32", "R_ARM_PREL31", "R_ARM_CALL", "R_ARM_JUMP24",
    "R_ARM_THM_CALL", "R_ARM_THM_JUMP24", "R_ARM_THM_JUMP19", "R_ARM_THM_JUMP11",
    "R_ARM_THM_JUMP8", "R_ARM_THM_JUMP6", "R_ARM_THM_PC8", "R_ARM_THM_PC12",
    "R_ARM_THM_ALU_PREL_11_0", "R_ARM_THM_MOVW_PREL_NC", "R_ARM_THM_MOVT_PREL",
    "R_ARM_REL32_NOI", "R_ARM_THM_PC9",
})  # fmt: skip
"""Relocation types resolved relative to the place they patch: the distance between two
parts of the image, the same wherever it is loaded."""


def _write_source(program: Program, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "model.c"
    source.write_text(program.source)
    return source


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"{what} failed ({' '.join(command[:3])} ...):\n{done.stderr[-4000:]}")
    return done.stdout


class HostModel:
    """The program as a host shared object: `invoke(inputs)` runs one or many int8 inputs."""

    def __init__(self, program: Program, library: Path) -> None:
        self.program = program
        self.library = library
        self._lib = ctypes.CDLL(str(library))
        self._fn = getattr(self._lib, ENTRY)
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._arena = (ctypes.c_uint8 * max(program.arena_bytes, 4))()

    def invoke(self, inputs: npt.NDArray[Any]) -> npt.NDArray[np.int8]:
        """inputs shaped (n, *input shape) or (*input shape); int8 outputs likewise."""
        x = np.ascontiguousarray(inputs, np.int8)
        single = x.size == self.program.input.size
        batch = x.reshape(-1, self.program.input.size)
        outputs = np.empty((len(batch), self.program.output.size), np.int8)
        for row, out in zip(batch, outputs, strict=True):
            status = self._fn(row.ctypes.data, out.ctypes.data, ctypes.addressof(self._arena))
            if status != 0:
                raise RuntimeError(f"model_invoke returned {status}")
        shape = self.program.output.shape
        return outputs.reshape(shape) if single else outputs.reshape(len(batch), *shape)


def build_host(program: Program, folder: Path, cc: str = "gcc") -> HostModel:
    source = _write_source(program, folder)
    library = folder / "model.so"
    _run([cc, "-O2", *WARNINGS, "-shared", "-fPIC", f"-I{RUNTIME}", str(source),
          "-o", str(library)], "host build")  # fmt: skip
    return HostModel(program, library)


@dataclass(frozen=True, slots=True)
class Module:
    """A linked Cortex-M module."""

    core: Core
    elf: Path
    image: bytes
    """The flat binary: header at offset 0, model_invoke at header.entry_offset."""
    text_bytes: int
    """Code (kernels, entry, libgcc helpers)."""
    rodata_bytes: int
    """Weights and constants."""


def toolchain_available() -> bool:
    return shutil.which(ARM_PREFIX + "gcc") is not None


def build_module(program: Program, core: str, folder: Path, profile: bool = False) -> Module:
    """`profile`: a build that calls the caller's mark function at each operator boundary
    (NN_MARK in native_module.h), for per-layer timing."""
    spec = CORES[core]
    source = _write_source(program, folder)
    obj, elf, binary = folder / f"{core}.o", folder / f"{core}.elf", folder / f"{core}.bin"
    gcc = ARM_PREFIX + "gcc"
    _run([gcc, *spec.flags, spec.opt, *MODULE_FLAGS, *WARNINGS, f"-DNATIVE_CORE={spec.code}u",
          *(["-DNN_PROFILE"] if profile else []), f"-I{RUNTIME}", "-c", str(source),
          "-o", str(obj)], f"{core} compile")  # fmt: skip
    _run([gcc, *spec.flags, "-mthumb", "-nostdlib", "-nostartfiles", "-static",
          f"-Wl,-T,{RUNTIME / 'module.ld'}", "-Wl,--emit-relocs", "-Wl,--gc-sections",
          "-Wl,--no-warn-rwx-segments", str(obj), "-lgcc", "-o", str(elf)],
         f"{core} link")  # fmt: skip
    _run([ARM_PREFIX + "objcopy", "-O", "binary", str(elf), str(binary)], f"{core} objcopy")
    image = binary.read_bytes()
    entry = symbol_address(elf, ENTRY) & ~1
    if entry != ENTRY_OFFSET:
        raise BuildError(f"{core}: {ENTRY} is at {entry:#x}, not {ENTRY_OFFSET:#x}")
    bad = absolute_relocations(elf)
    if bad:
        raise BuildError(f"{core}: relocations needing a load address: {bad[:5]}")
    sizes = section_sizes(elf)
    text = sum(v for k, v in sizes.items() if k in (".native_entry", ".text"))
    return Module(spec, elf, image, text, sizes.get(".rodata", 0))


def symbol_address(elf: Path, name: str) -> int:
    out = _run([ARM_PREFIX + "nm", str(elf)], "nm")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise BuildError(f"{elf.name}: no symbol {name}")


def section_sizes(elf: Path) -> dict[str, int]:
    out = _run([ARM_PREFIX + "readelf", "-S", "-W", str(elf)], "readelf -S")
    sizes = {}
    for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        sizes[m.group(1)] = int(m.group(2), 16)
    return sizes


def relocations(elf: Path) -> list[tuple[str, str, str]]:
    """(section, type, symbol) of every relocation the ELF records (--emit-relocs keeps the
    static ones; a -pie link would add dynamic ones)."""
    out = _run([ARM_PREFIX + "readelf", "-r", "-W", str(elf)], "readelf -r")
    found = []
    section = ""
    for line in out.splitlines():
        header = re.match(r"Relocation section '([^']+)'", line)
        if header:
            section = header.group(1)
            continue
        parts = line.split()
        if len(parts) >= 3 and re.fullmatch(r"[0-9a-f]{8}", parts[0]) and parts[2].startswith("R_"):
            found.append((section, parts[2], parts[4] if len(parts) > 4 else ""))
    return found


def absolute_relocations(elf: Path) -> list[tuple[str, str, str]]:
    """Relocations of the loaded image (sections with the ALLOC flag; debug info does not
    count) that depend on where it is loaded: absolute addresses, GOT entries, dynamic
    fix-ups. A position-independent module has none."""
    loaded = _allocated_sections(elf)
    return [
        r
        for r in relocations(elf)
        if (r[1] not in PC_RELATIVE and re.sub(r"^\.rela?", "", r[0]) in loaded)
        or r[0] in (".rel.dyn", ".rela.dyn", ".rel.plt")
    ]


def _allocated_sections(elf: Path) -> set[str]:
    out = _run([ARM_PREFIX + "readelf", "-S", "-W", str(elf)], "readelf -S")
    loaded = set()
    for line in out.splitlines():
        m = re.match(
            r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+"
            r"[0-9a-f]+\s+(\S*A\S*)\s",
            line,
        )
        if m:
            loaded.add(m.group(1))
    return loaded
