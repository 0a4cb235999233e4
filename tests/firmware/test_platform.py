"""The bare-metal platform layer (firmware_stubs/platform/mps2) on QEMU's four Cortex-M boards:
UDP over the LAN9118 to the host and back, semihosting command line and exit status, SysTick
time, and the link-time memory budget taken from the device-class catalogue."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import time
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from tests.firmware.qemu import BOARDS, FIRMWARE, Boot, make

pytestmark = pytest.mark.qemu

CATALOGUE = FIRMWARE.parent / "lwm2m_mlaas" / "compiler" / "device_classes.toml"


def catalogue() -> dict[str, dict[str, object]]:
    with open(CATALOGUE, "rb") as f:
        classes: dict[str, dict[str, object]] = tomllib.load(f)["class"]
    return classes


def board_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location("board_config",
                                                  FIRMWARE / "tools" / "board_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_netcheck_round_trip_on_all_boards(netcheck: dict[str, Path], boot: Boot) -> None:
    """All four boards at once: each says hello with its board and core, echoes what it gets
    back and exits 0; their datagrams reach 127.0.0.1 through QEMU's 192.0.2.2."""
    classes = catalogue()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        port = sock.getsockname()[1]
        boards = {b: boot(b, netcheck[b], f"port={port} tag=t{i}") for i, b in enumerate(BOARDS)}
        addresses: dict[str, tuple[str, int]] = {}
        echoes: dict[str, bytes] = {}
        deadline = time.monotonic() + 30
        while len(echoes) < len(BOARDS) and time.monotonic() < deadline:
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if data.startswith(b"hello "):
                board, core, tag = data.decode().split()[1:]
                assert board in BOARDS and board not in addresses, data
                assert core == classes[board]["core"], data
                assert tag == f"t{BOARDS.index(board)}", data
                addresses[board] = addr
                sock.sendto(f"ping {board} \x00\xff".encode("latin-1"), addr)
            else:
                board = next(b for b, a in addresses.items() if a == addr)
                echoes[board] = data
        missing = {b: q.log() for b, q in boards.items() if b not in echoes}
        assert not missing, f"no echo from: {missing}"
    for board, q in boards.items():
        assert echoes[board] == f"echo ping {board} \x00\xff".encode("latin-1")
        assert q.wait(10) == 0, q.log()
        assert f"hello {board}" in q.log() and "echoed" in q.log()


def test_exit_status_and_millis_on_timeout(netcheck: dict[str, Path], boot: Boot) -> None:
    """No answer: net_recv gives up after its timeout by SysTick time (QEMU clocks the an505's
    core at 20 MHz, the others at 25 MHz) and exit code 3 becomes QEMU's exit status."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        boards = {b: boot(b, netcheck[b], f"port={port} tag=x timeout=1500") for b in BOARDS}
        for board, q in boards.items():
            assert q.wait(15) == 3, q.log()
            elapsed = time.monotonic() - q.started
            assert 1.4 <= elapsed <= 6, (board, elapsed)
            assert "timeout" in q.log()


def test_bad_command_line_exits_2(netcheck: dict[str, Path], boot: Boot) -> None:
    q = boot("mps2-an385", netcheck["mps2-an385"], "tag=missing-port")
    assert q.wait(10) == 2
    assert "usage" in q.log()


@pytest.mark.parametrize("override", ["ml_ram_kb=8192", "ram_kb=200"])
def test_link_fails_over_ram_budget(override: str, tmp_path: Path) -> None:
    """An arena beyond the class's RAM fails the link with a message naming the budget, both
    beyond the board's physical RAM and (ram_kb=200) only beyond the catalogue's budget."""
    result = make("BOARD=mps2-an385", "APP=netcheck", "APP_SRC=", f"BOARD_SET={override}",
                  f"BUILD={tmp_path}", check=False, shared=False)
    assert result.returncode != 0
    assert "RAM budget exceeded" in result.stderr, result.stderr
    assert "class mps2-an385" in result.stderr
    assert not (tmp_path / "netcheck.elf").exists()


def test_link_fails_when_malloc_is_used(tmp_path: Path) -> None:
    (tmp_path / "probe.c").write_text(
        "#include <stdlib.h>\nint main(void) { void *p = malloc(8); free(p); return !p; }\n")
    result = make("BOARD=mps2-an386", "APP=probe", f"APP_DIR={tmp_path}", "APP_SRC=",
                  f"BUILD={tmp_path / 'build'}", check=False, shared=False)
    assert result.returncode != 0
    assert "static memory only" in result.stderr, result.stderr


@pytest.mark.parametrize("board", BOARDS)
def test_board_config_equals_catalogue(board: str, netcheck: dict[str, Path],
                                       tmp_path: Path) -> None:
    """board.ld/board.h are the catalogue's numbers, and so are the linked slot and arena."""
    cls = catalogue()[board]
    bc = board_config()
    cfg = bc.load(board)
    for key in ("core", "clock_mhz", "ram_kb", "ml_ram_kb", "ml_flash_kb"):
        assert cfg[key] == cls[key], key
    assert bc.main([board, str(tmp_path)]) == 0
    ld, h = (tmp_path / "board.ld").read_text(), (tmp_path / "board.h").read_text()

    def kib(key: str) -> int:
        size = cls[key]
        assert isinstance(size, int), key
        return size * 1024

    assert f"BOARD_RAM_BUDGET = {kib('ram_kb')};" in ld
    assert f"BOARD_ML_RAM = {kib('ml_ram_kb')};" in ld
    assert f"BOARD_ML_FLASH = {kib('ml_flash_kb')};" in ld
    assert f'#define BOARD_CORE "{cls["core"]}"' in h
    assert f"#define BOARD_CLOCK_MHZ {cls['clock_mhz']}u" in h
    # The linked image: symbol sizes of the model slot and the arena.
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(netcheck[board])],
                        capture_output=True, text=True, check=True).stdout
    sizes = {m[2]: int(m[1], 16) for m in re.finditer(r"^\w+ (\w+) \w (\w+)$", nm, re.M)}
    assert sizes["model_slot"] == kib("ml_flash_kb")
    assert sizes["ml_arena"] == kib("ml_ram_kb")
