"""The SMSC LAN91C111 driver (firmware_stubs/platform/mps2/smc91x.c, the NIC of the Renode board
renode-an385) against an independent model of the same chip: QEMU's smc91c111 on its ARM926
versatilepb board (platform/versatile/), with the same net.c as the mps2 boards. Renode itself is
not installed here (tests/firmware/test_renode.py); this is where the driver actually runs."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from tests.firmware.qemu import BOARDS, FIRMWARE, Boot, build, make

pytestmark = pytest.mark.qemu

BOARD = "versatilepb"
CATALOGUE = FIRMWARE.parent / "lwm2m_mlaas" / "compiler" / "device_classes.toml"


@pytest.fixture(scope="module")
def netcheck() -> Path:
    return build(BOARD, "netcheck", app_src="")


def exchange(sock: socket.socket, reply: bytes, burst: int = 0) -> tuple[bytes, bytes]:
    """Waits for the board's hello, answers `reply` (then `burst` more datagrams at once) and
    returns (hello, echo)."""
    hello, addr = sock.recvfrom(2048)
    sock.sendto(reply, addr)
    for i in range(burst):
        sock.sendto(b"extra %d" % i, addr)
    echo, addr2 = sock.recvfrom(2048)
    assert addr2 == addr
    return hello, echo


# Frame lengths on the wire (14 Ethernet + 20 IPv4 + 8 UDP + payload): 53 (short and odd: QEMU
# pads it to 64 but still flags the frame odd), 64, 101 (odd, past the minimum), 543 and 544
# (netcheck takes up to 507 payload bytes).
PAYLOADS = {
    "short-odd": b"ping \x00\xff1ab",
    "even": b"p" * 22,
    "odd": bytes(range(59)),
    "long-odd": bytes(i % 251 for i in range(501)),
    "long-even": b"x" * 502,
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_netcheck_round_trip(netcheck: Path, boot: Boot, payload: bytes) -> None:
    """hello with board and core, the reply echoed byte for byte, exit status 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(20)
        q = boot(BOARD, netcheck, f"port={sock.getsockname()[1]} tag=lan91c111")
        hello, echo = exchange(sock, payload)
        assert hello == b"hello versatilepb arm926ej-s lan91c111", q.log()
        assert echo == b"echo " + payload, q.log()
        assert q.wait(10) == 0, q.log()
    assert "hello versatilepb" in q.log() and "echoed" in q.log()


def test_receive_memory_full(netcheck: Path, boot: Boot) -> None:
    """Nine datagrams at once fill the chip's four 2 KB pages while the board is about to
    send: it still echoes the first one and exits 0 (a transmit page is found, if need be by
    dropping a received frame; whether that path ran is not observable from here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(20)
        q = boot(BOARD, netcheck, f"port={sock.getsockname()[1]} tag=burst")
        _, echo = exchange(sock, b"first", burst=8)
        assert echo == b"echo first", q.log()
        assert q.wait(10) == 0, q.log()


def test_exit_status_and_millis_on_timeout(netcheck: Path, boot: Boot) -> None:
    """No answer: net_recv gives up after 1500 ms of SP804 time (1 MHz), exit code 3 becomes
    QEMU's exit status through semihosting (ARM-state SVC 0x123456)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        q = boot(BOARD, netcheck, f"port={sock.getsockname()[1]} tag=x timeout=1500")
        assert q.wait(15) == 3, q.log()
        elapsed = time.monotonic() - q.started
        assert 1.4 <= elapsed <= 6, elapsed
        assert "timeout" in q.log()


def test_bad_command_line_exits_2(netcheck: Path, boot: Boot) -> None:
    q = boot(BOARD, netcheck, "tag=missing-port")
    assert q.wait(10) == 2
    assert "usage" in q.log()


def test_budget_is_board_configs_own(netcheck: Path) -> None:
    """The ARM926 is no device class: versatilepb's budget is board_config's BUDGETS entry, and
    the linked model slot and arena have its sizes."""
    with open(CATALOGUE, "rb") as f:
        assert BOARD not in tomllib.load(f)["class"]
    ld = (FIRMWARE / "build" / BOARD / "board.ld").read_text()
    assert "BUDGETS (no catalogue class)" in ld
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(netcheck)],
                        capture_output=True, text=True, check=True).stdout
    sizes = {m[2]: int(m[1], 16) for m in re.finditer(r"^\w+ (\w+) \w (\w+)$", nm, re.M)}
    assert sizes["model_slot"] == 1024 * 1024
    assert sizes["ml_arena"] == 256 * 1024


@pytest.mark.parametrize("board,nic", [*((b, "lan9118") for b in BOARDS),
                                       ("renode-an385", "smc91x"), (BOARD, "smc91x")])
def test_each_board_links_its_nic(board: str, nic: str, tmp_path: Path) -> None:
    """The Makefile links exactly the board's driver (board_config.py --nic), and versatilepb
    the same net.c and smc91x.c as renode-an385."""
    make(f"BOARD={board}", "APP=netcheck", "APP_SRC=", f"BUILD={tmp_path}", shared=False)
    objects = set(re.findall(r"obj/(platform/\S+?)\.o", (tmp_path / "netcheck.map").read_text()))
    other = {"lan9118": "smc91x", "smc91x": "lan9118"}[nic]
    assert f"platform/mps2/{nic}" in objects and "platform/mps2/net" in objects, objects
    assert f"platform/mps2/{other}" not in objects, objects
