"""What a simulated device reports about itself: its board, core and ML slot, taken from the
compiler's device class catalogue so that simulated fleets cover every class. Its runtimes are
the ones it really has: TFLite-Micro, run in Python; never a class's native runtime, whose
modules only Cortex-M code (the firmware stubs) can run."""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.manifest import BACKEND
from ..compiler.targets import load_catalogue


@dataclass(frozen=True, slots=True)
class BoardProfile:
    board: str
    core: str
    clock_mhz: int
    ml_ram: int
    """Bytes of RAM the ML slot may use."""
    ml_flash: int
    """Bytes of flash the ML slot may use."""
    runtimes: tuple[str, ...] = (BACKEND,)
    """Reported in /32100/0/4."""
    manufacturer: str = "lwm2m-mlaas"


BOARDS = {
    name: BoardProfile(name, c.core, c.clock_mhz, c.ml_ram_bytes, c.ml_flash_bytes)
    for name, c in load_catalogue().items()
    if BACKEND in c.runtimes  # (a class with native runtimes only has no simulated board)
}
