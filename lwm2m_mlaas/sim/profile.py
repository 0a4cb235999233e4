"""What a simulated device reports about itself: its board, core and the ML slot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BoardProfile:
    board: str
    core: str
    clock_mhz: int
    ml_ram: int
    """Bytes of RAM the ML slot may use."""
    ml_flash: int
    """Bytes of flash the ML slot may use."""
    runtimes: tuple[str, ...] = ("tflm",)
    manufacturer: str = "lwm2m-mlaas"


BOARDS = {
    p.board: p
    for p in (
        BoardProfile("samd21", "cortex-m0plus", 48, 16 * 1024, 96 * 1024),
        BoardProfile(
            "nrf52840", "cortex-m4f", 64, 160 * 1024, 512 * 1024, ("tflm", "native-armv7em-hardfp")
        ),
        BoardProfile(
            "stm32f746", "cortex-m7", 216, 192 * 1024, 640 * 1024, ("tflm", "native-armv7em-hardfp")
        ),
        BoardProfile("nrf5340", "cortex-m33", 128, 320 * 1024, 640 * 1024),
        BoardProfile("mps2-an385", "cortex-m3", 25, 1024 * 1024, 2 * 1024 * 1024),
        BoardProfile("mps2-an386", "cortex-m4f", 25, 1024 * 1024, 2 * 1024 * 1024),
        BoardProfile("mps2-an500", "cortex-m7", 25, 1024 * 1024, 2 * 1024 * 1024),
        BoardProfile("mps2-an505", "cortex-m33", 25, 1024 * 1024, 2 * 1024 * 1024),
    )
}
