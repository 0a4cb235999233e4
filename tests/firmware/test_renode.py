"""The firmware for Renode (BOARD=renode-an385, Renode/): what can be checked without Renode.

Renode is not installable here (no internet beyond package registries), so Renode/stub.robot
does not run here; test_renode_robot_suite says so in the warnings summary instead of passing
silently, and runs the suite wherever `renode-test` exists. What does run: the build against
class mps2-an385's budget, the image's Renode-specific platform paths (command line compiled
in, no semihosting, exit logged) on QEMU's mps2-an385 (same core, memory map and UART, but a
LAN9118 where Renode's board has the LAN91C111), and the LAN91C111 driver itself on QEMU's
smc91c111 (test_smc91x.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
import warnings
from pathlib import Path

import pytest

from lwm2m_mlaas.compiler.targets import Capabilities, classify
from tests.firmware.qemu import FIRMWARE, build, make

pytestmark = pytest.mark.qemu

BOARD = "renode-an385"
CLASS = "mps2-an385"
DEFAULT_CMDLINE = "ep=stub-renode server=192.0.2.2:5683 send=5"
ROOT = FIRMWARE.parent
KIB = 1024


def budget() -> dict[str, int]:
    with open(ROOT / "lwm2m_mlaas" / "compiler" / "device_classes.toml", "rb") as f:
        cls: dict[str, int] = tomllib.load(f)["class"][CLASS]
    return cls


def sections(elf: Path) -> dict[str, tuple[int, int]]:
    """Section name -> (address, size), from readelf."""
    out = subprocess.run(["arm-none-eabi-readelf", "-SW", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    return {m[1]: (int(m[2], 16), int(m[3], 16))
            for m in re.finditer(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{8}) [0-9a-f]+ ([0-9a-f]+)", out)}


@pytest.fixture(scope="module")
def stub() -> Path:
    return build(BOARD)


def test_stub_fits_class_budget(stub: Path) -> None:
    """The client stub for Renode links against class mps2-an385's budget: the model slot and
    the ML arena are the class's sizes, RAM use is within ram_kb, vectors at 0."""
    cls, s = budget(), sections(stub)
    assert s[".model_slot"][1] == cls["ml_flash_kb"] * KIB
    assert s[".ml_arena"][1] == cls["ml_ram_kb"] * KIB
    assert s[".text"][0] == 0x00000000
    ram = [name for name, (addr, _) in s.items() if 0x20000000 <= addr < 0x20400000]
    ram_end = max(s[n][0] + s[n][1] for n in ram)
    assert {".bss", ".ml_arena", ".stack"} <= set(ram)
    assert ram_end - 0x20000000 <= cls["ram_kb"] * KIB
    print(f"{BOARD} stub: text {s['.text'][1]} B, RAM used {ram_end - 0x20000000} B of "
          f"{cls['ram_kb'] * KIB}, model slot {s['.model_slot'][1]}, arena {s['.ml_arena'][1]}")


def test_no_semihosting_and_command_line_compiled_in(stub: Path, tmp_path: Path) -> None:
    """Renode's Cortex-M has no semihosting host: no BKPT anywhere in the image, and the
    command line is make's CMDLINE (default, or as given)."""
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(stub)], capture_output=True,
                                 text=True, check=True).stdout
    assert "bkpt" not in disassembly
    assert DEFAULT_CMDLINE.encode() in stub.read_bytes()
    other = "ep=renode-2 server=192.0.2.2:5683 lifetime=30"
    make(f"BOARD={BOARD}", "APP=netcheck", "APP_SRC=", f"CMDLINE={other}", f"BUILD={tmp_path}",
         shared=False)
    assert other.encode() in (tmp_path / "netcheck.elf").read_bytes()
    assert f'#define BOARD_CMDLINE "{other}"' in (tmp_path / "board.h").read_text()


def test_platform_paths_on_qemu_an385(stub: Path, tmp_path: Path) -> None:
    """The Renode image on QEMU's mps2-an385, semihosting off (a BKPT would fault): it reads its
    compiled-in command line, logs on the CMSDK UART (TX enabled by platform_init), finds no
    LAN91C111 (QEMU has a LAN9118 there), logs "exit 3" and sleeps instead of exiting.
    This checks the platform, not the NIC: the driver runs in test_smc91x.py."""
    log = tmp_path / "serial.log"
    argv = ["qemu-system-arm", "-M", "mps2-an385", "-nographic", "-no-reboot",
            "-kernel", str(stub), "-nic", "user,model=lan9118,net=192.0.2.0/24,host=192.0.2.2"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while "exit 3" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)
        time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert "network down" in text and "exit 3" in text, text
        assert "fault" not in text, text
        assert proc.poll() is None, "QEMU exited: the firmware did not sleep after exit"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_reports_classify_as_mps2_an385() -> None:
    """What the Renode board reports (board renode-an385, a Cortex-M3 with class mps2-an385's
    ML memory and native runtime) is classified as mps2-an385, as stub.robot expects."""
    cls = budget()
    reported = Capabilities("cortex-m3", cls["ml_ram_kb"] * KIB, cls["ml_flash_kb"] * KIB,
                            ("native-armv7m",), BOARD)
    found = classify(reported)
    assert found is not None and found.name == CLASS


@pytest.mark.filterwarnings("default:Renode is not installed here")
@pytest.mark.timeout(960)
def test_renode_robot_suite() -> None:
    """Runs Renode/stub.robot where Renode is installed (as root, for its TAP device). Here it
    is not: the test then asserts that neither `renode` nor `renode-test` exists and reports,
    as a warning in the session summary, that the suite was NOT run; that is no Renode pass."""
    renode_test = shutil.which("renode-test")
    if renode_test is None:
        assert shutil.which("renode") is None, "renode without renode-test: install both"
        message = ("Renode is not installed here: Renode/stub.robot was NOT run "
                   "(see Renode/README.md; the LAN91C111 driver ran on QEMU's smc91c111 in "
                   "test_smc91x.py instead)")
        print(message)
        warnings.warn(message, stacklevel=1)
        return
    build(BOARD)
    result = subprocess.run([renode_test, str(ROOT / "Renode" / "stub.robot")], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
