#!/usr/bin/env python3
"""Board configuration for the bare-metal firmware, generated from the device-class catalogue.

The memory budget a board's firmware links against (RAM, ML arena, model slot, clock) comes
from lwm2m_mlaas/compiler/device_classes.toml, the same file the compiler fits models to, so
the two can never drift apart. What the emulator models (memory map, peripheral bases, CPU
flags, NIC) is fixed per board below, read from QEMU 7.2 hw/arm/mps2.c, hw/arm/mps2-tz.c and
hw/arm/versatilepb.c, and for renode-an385 from Renode/mps2-an385.repl.

Besides QEMU's four mps2 boards: renode-an385, the an385 memory map with an SMSC LAN91C111
(Renode's SMC91X) instead of the LAN9118 and the command line compiled in (Renode's Cortex-M has
no semihosting host); and versatilepb, QEMU's ARM926EJ-S board whose smc91c111 model checks the
LAN91C111 driver against an independent model. The ARM926 is no device class of the catalogue:
versatilepb's budget is its own entry below (BUDGETS), not a catalogue class.

    board_config.py BOARD OUTDIR [--set key=value ...] [--cmdline TEXT]
                                          writes OUTDIR/board.ld and board.h
    board_config.py BOARD --cflags        prints the compiler's CPU flags
    board_config.py BOARD --platform      prints the platform directory (mps2, versatile)
    board_config.py BOARD --nic           prints the Ethernet driver (lan9118, smc91x)

Stdlib only (tomllib). `--set` overrides a catalogue value (tests use it to prove that the link
fails when the ML arena outgrows the RAM budget).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE.parent.parent / "lwm2m_mlaas" / "compiler" / "device_classes.toml"
KIB = 1024
MIB = 1024 * KIB
STACK_KB = 32  # main stack (MSP); the client's buffers are static, not on the stack

# What QEMU 7.2 models. code: the code memory (ZBT SSRAM1, RAM in QEMU, our "flash": text,
# rodata, .data load image and the model slot); ram: ZBT SSRAM2/3; uart0: CMSDK APB UART0;
# eth: the SMSC LAN9118 (LAN9220 on the real FPGA); sysclk: the CPU and SysTick clock.
# an505 (mps2-tz, SSE-200 IoT kit): the CPU boots Secure with INITSVTOR = 0x10000000, so
# everything is used through the Secure aliases (address bit 28 set: 0x1.., 0x3.., 0x5..).
BOARDS: dict[str, dict[str, Any]] = {
    "mps2-an385": {
        "core": "cortex-m3", "cflags": "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft",
        "fpu": 0, "code": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "uart0": 0x40004000, "eth": 0x40200000, "sysclk": 25_000_000,
    },
    "mps2-an386": {
        "core": "cortex-m4f",
        "cflags": "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard",
        "fpu": 1, "code": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "uart0": 0x40004000, "eth": 0x40200000, "sysclk": 25_000_000,
    },
    "mps2-an500": {
        "core": "cortex-m7",
        "cflags": "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard",
        "fpu": 1, "code": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "uart0": 0x40004000, "eth": 0xA0000000, "sysclk": 25_000_000,
    },
    "mps2-an505": {
        "core": "cortex-m33",
        "cflags": "-mcpu=cortex-m33 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard",
        "fpu": 1, "code": (0x10000000, 4 * MIB), "ram": (0x38000000, 4 * MIB),
        "uart0": 0x50200000, "eth": 0x52000000, "sysclk": 20_000_000,
    },
    # Renode/mps2-an385.repl: the an385 map, CMSDK UART0, Renode's SMC91X (LAN91C111) at the
    # LAN9118's address; class mps2-an385's budget. No semihosting: CMDLINE is compiled in.
    "renode-an385": {
        "core": "cortex-m3", "cflags": "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft",
        "fpu": 0, "code": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "uart0": 0x40004000, "eth": 0x40200000, "sysclk": 25_000_000,
        "class": "mps2-an385", "nic": "smc91x", "cmdline": "build",
    },
    # QEMU versatilepb (hw/arm/versatilepb.c): ARM926EJ-S, SDRAM at 0 (code in its first 4 MB,
    # RAM in the next 4 MB), PL011 UART0 at 0x101f1000, smc91c111 at 0x10010000, SP804 timer 0
    # at 0x101e2000 clocked at 1 MHz (sysclk here: the timer's clock, the time base).
    "versatilepb": {
        "core": "arm926ej-s", "cflags": "-mcpu=arm926ej-s -marm -mfloat-abi=soft",
        "fpu": 0, "code": (0x00000000, 4 * MIB), "ram": (0x00400000, 4 * MIB),
        "uart0": 0x101F1000, "eth": 0x10010000, "sysclk": 1_000_000,
        "platform": "versatile", "nic": "smc91x",
    },
}
# Budgets of boards that are no device class of the catalogue. versatilepb only exists to run
# the LAN91C111 driver on QEMU's smc91c111; its numbers mirror mps2-an385's so the same apps fit
# (clock_mhz: the Versatile PB926EJ-S's nominal ARM926 clock; reported, not modelled).
BUDGETS: dict[str, dict[str, Any]] = {
    "versatilepb": {"core": "arm926ej-s", "clock_mhz": 210, "ram_kb": 4096, "ml_ram_kb": 256,
                    "ml_flash_kb": 1024},
}
CLASS_KEYS = ("core", "clock_mhz", "ram_kb", "ml_ram_kb", "ml_flash_kb")
DEFAULT_CMDLINE = "ep=stub-renode server=192.0.2.2:5683"


def load(board: str, catalogue: Path = CATALOGUE,
         overrides: dict[str, int] | None = None) -> dict[str, Any]:
    """The board's class from the catalogue (or its own budget, BUDGETS), plus overrides,
    merged with what the emulator models."""
    if board not in BOARDS:
        raise SystemExit(f"board_config: unknown board {board!r} (one of {', '.join(BOARDS)})")
    qemu = BOARDS[board]
    if board in BUDGETS:
        cls, class_name = BUDGETS[board], f"{board} (board_config budget)"
    else:
        class_name = qemu.get("class", board)
        with open(catalogue, "rb") as f:
            cls = tomllib.load(f)["class"][class_name]
    cfg = {key: cls[key] for key in CLASS_KEYS} | (overrides or {})
    if cfg["core"] != qemu["core"]:
        raise SystemExit(f"board_config: {board} is a {qemu['core']} in the emulator, "
                         f"its class says {cfg['core']}")
    return cfg | {"board": board, "class": class_name, "qemu": qemu}


def c_string(text: str) -> str:
    """A C string literal of printable ASCII text."""
    if not all(" " <= ch <= "~" for ch in text):
        raise SystemExit(f"board_config: the command line must be printable ASCII: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def source(cfg: dict[str, Any]) -> str:
    return "BUDGETS (no catalogue class)" if cfg["board"] in BUDGETS else "device_classes.toml"


def board_ld(cfg: dict[str, Any]) -> str:
    q = cfg["qemu"]
    return f"""/* {cfg['board']}: generated by tools/board_config.py from {source(cfg)}.
 * Do not edit; the budget is the device class's, the memory map the emulator's. The section
 * layout (mps2.ld) is shared by every platform. */
BOARD_RAM_BUDGET = {cfg['ram_kb'] * KIB};     /* ram_kb = {cfg['ram_kb']} */
BOARD_ML_RAM = {cfg['ml_ram_kb'] * KIB};      /* ml_ram_kb = {cfg['ml_ram_kb']}: ML arena */
BOARD_ML_FLASH = {cfg['ml_flash_kb'] * KIB};  /* ml_flash_kb = {cfg['ml_flash_kb']}: model slot */
STACK_SIZE = {STACK_KB * KIB};

MEMORY
{{
    CODE (rx)  : ORIGIN = {q['code'][0]:#010x}, LENGTH = {q['code'][1]}
    RAM  (rwx) : ORIGIN = {q['ram'][0]:#010x}, LENGTH = {q['ram'][1]}
}}

INCLUDE mps2.ld

ASSERT(__ram_end - ORIGIN(RAM) <= BOARD_RAM_BUDGET,
  "RAM budget exceeded: data+bss+stack+ML arena > ram_kb = {cfg['ram_kb']} of class {cfg['class']}")
ASSERT(SIZEOF(.ml_arena) == BOARD_ML_RAM,
  "ML arena differs from ml_ram_kb = {cfg['ml_ram_kb']} of class {cfg['class']}")
ASSERT(SIZEOF(.model_slot) == BOARD_ML_FLASH,
  "model slot differs from ml_flash_kb = {cfg['ml_flash_kb']} of class {cfg['class']}")
"""


def board_h(cfg: dict[str, Any], cmdline: str = DEFAULT_CMDLINE) -> str:
    q = cfg["qemu"]
    builtin = ("" if q.get("cmdline", "semihosting") == "semihosting" else
               "/* No semihosting host: the command line, from make CMDLINE=. */\n"
               f"#define BOARD_CMDLINE {c_string(cmdline)}\n")
    return f"""/* {cfg['board']}: generated by tools/board_config.py from {source(cfg)}. */
#ifndef BOARD_H
#define BOARD_H
#define BOARD_NAME "{cfg['board']}"
#define BOARD_CORE "{cfg['core']}"
#define BOARD_CLOCK_MHZ {cfg['clock_mhz']}u       /* catalogue clock_mhz (reported) */
#define BOARD_SYSCLK_HZ {q['sysclk']}u   /* what QEMU clocks SysTick with */
#define BOARD_RAM_BYTES {cfg['ram_kb'] * KIB}u
#define BOARD_ML_RAM_BYTES {cfg['ml_ram_kb'] * KIB}u
#define BOARD_ML_FLASH_BYTES {cfg['ml_flash_kb'] * KIB}u
#define BOARD_HAS_FPU {q['fpu']}
#define BOARD_UART0_BASE {q['uart0']:#010x}u
#define BOARD_ETH_BASE {q['eth']:#010x}u
{builtin}#endif
"""


def write_if_changed(path: Path, text: str) -> None:
    """Keeps the timestamp when nothing changed, so make rebuilds only what depends on it."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("board")
    ap.add_argument("outdir", nargs="?", type=Path)
    ap.add_argument("--cflags", action="store_true", help="print the CPU flags and exit")
    ap.add_argument("--platform", action="store_true",
                    help="print the platform directory (platform/<it>) and exit")
    ap.add_argument("--nic", action="store_true", help="print the Ethernet driver and exit")
    ap.add_argument("--cmdline", default=DEFAULT_CMDLINE,
                    help="the compiled-in command line of boards without semihosting "
                         f"(default: {DEFAULT_CMDLINE!r})")
    ap.add_argument("--catalogue", type=Path, default=CATALOGUE)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a catalogue value, e.g. ml_ram_kb=8192")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in CLASS_KEYS[1:]:
            ap.error(f"--set {item}: key must be one of {', '.join(CLASS_KEYS[1:])}")
        overrides[key] = int(value)
    cfg = load(args.board, args.catalogue, overrides)
    if args.cflags:
        print(cfg["qemu"]["cflags"])
        return 0
    if args.platform:
        print(cfg["qemu"].get("platform", "mps2"))
        return 0
    if args.nic:
        print(cfg["qemu"].get("nic", "lan9118"))
        return 0
    if args.outdir is None:
        ap.error("OUTDIR is required unless --cflags")
    args.outdir.mkdir(parents=True, exist_ok=True)
    write_if_changed(args.outdir / "board.ld", board_ld(cfg))
    write_if_changed(args.outdir / "board.h", board_h(cfg, args.cmdline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
