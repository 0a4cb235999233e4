"""The firmware stubs on QEMU's mps2 boards: build once per test session, boot, always kill.

`build(board, app)` runs the firmware Makefile under a file lock (pytest-xdist workers share
firmware_stubs/build) and caches the result for the session. `Qemu` boots an ELF with
semihosting (command line in, exit status out), user networking on the board's LAN9118 that
maps 192.0.2.2 to the host's loopback, and the serial console captured to a log file. Use it as
a context manager: the process is killed on the way out whatever happened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from lwm2m_mlaas.compiler.signing import load_public_key
from lwm2m_mlaas.config import ServerConfig
from tests.helpers.service import trust_key

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_stubs"
BOARDS = ("mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505")
HOST_IP = "192.0.2.2"      # the host as the firmware sees it
GUEST_IP = "192.0.2.15"
# Boards whose NIC is not the mps2 boards' LAN9118, and their extra QEMU arguments (versatilepb:
# the LAN91C111 driver's check; no audio backend for its AC97 codec).
NIC_MODELS = {"versatilepb": "smc91c111"}
EXTRA_ARGS = {"versatilepb": ["-audiodev", "none,id=noaudio"]}
ICOUNT = {board: ["-icount", "shift=0"] for board in BOARDS}
"""The Cortex-M boards run with virtual time advancing 1 ns per instruction, so SysTick's cycles
count the instructions the core ran (platform_instructions: the stub's reported latency, and
modrun's counts); they sleep (WFI) when idle, when QEMU lets virtual time follow real time.
versatilepb's ARM926 polls, so there virtual time would only advance with instructions."""

_built: dict[tuple[str, str, str], Path] = {}


def cmdline(endpoint: str, port: int, config: ServerConfig) -> str:
    """The stub's command line: the service at `port`, trusting its key; inferring every
    200 ms and sending the results every second."""
    key = load_public_key(trust_key(config)).public_bytes_raw().hex()
    return (f"ep={endpoint} server={HOST_IP}:{port} lifetime=30 task=sine trust={key} "
            "interval=200 send=1")  # fmt: skip


def make(*args: str, check: bool = True, shared: bool = True,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`make -C firmware_stubs ARGS`. Builds into the shared firmware_stubs/build are
    serialised across processes by an exclusive flock; shared=False for a private BUILD=."""
    argv = ["make", "-C", str(FIRMWARE), "--no-print-directory", *args]
    if shared:
        lock_path = FIRMWARE / "build" / ".lock"
        lock_path.parent.mkdir(exist_ok=True)
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    else:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def build(board: str, app: str | None = None, app_src: str | None = None) -> Path:
    """The ELF of `app` (apps/<app>.c) or of the client stub (src/), built once per session.
    app_src="" links an app with the platform alone, independent of src/."""
    key = (board, app or "", "*" if app_src is None else app_src)
    if key not in _built:
        args = [f"BOARD={board}"]
        if app:
            args.append(f"APP={app}")
        if app_src is not None:
            args.append(f"APP_SRC={app_src}")
        make(*args)
        _built[key] = FIRMWARE / "build" / board / f"{app or 'stub'}.elf"
    return _built[key]


class Qemu:
    """One emulated board running `elf` with `cmdline` as its semihosting command line."""

    def __init__(self, board: str, elf: Path, cmdline: str, log_path: Path) -> None:
        self.board, self.elf, self.cmdline, self.log_path = board, elf, cmdline, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def argv(self) -> list[str]:
        return [
            "qemu-system-arm", "-M", self.board, *ICOUNT.get(self.board, []),
            "-nographic", "-no-reboot",
            "-kernel", str(self.elf),
            "-semihosting-config", "enable=on,target=native",
            "-append", self.cmdline,
            "-nic", f"user,model={NIC_MODELS.get(self.board, 'lan9118')},"
                    f"net=192.0.2.0/24,host={HOST_IP}",
            *EXTRA_ARGS.get(self.board, []),
        ]

    def start(self) -> Qemu:
        with open(self.log_path, "wb") as log:
            # Own process group, so that kill() reaches anything QEMU might spawn.
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        return self

    def wait(self, timeout: float) -> int:
        """The exit status: the firmware's platform_exit code (semihosting SYS_EXIT_EXTENDED)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.board} still running after {timeout} s; serial:\n"
                                 f"{self.log()}") from None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """What the firmware printed on UART0 so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> Qemu:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()


Boot = Callable[[str, Path, str], Qemu]
"""The `boot` fixture (firmware/conftest.py): boot(board, elf, cmdline) -> a started Qemu."""


MODRUN_TIMEOUT = 30.0


def run_modrun(board: str, image: bytes, inputs: npt.NDArray[np.int8], folder: Path,
               extra: str = "") -> tuple[int, bytes, str]:  # fmt: skip
    """(exit status, outputs file, serial log) of firmware_stubs/apps/modrun on `board` for a
    native module `image` and its int8 `inputs` (files reached by semihosting)."""
    folder.mkdir(parents=True, exist_ok=True)
    module, inputs_file, outputs = folder / "module.bin", folder / "in.bin", folder / "out.bin"
    module.write_bytes(image)
    inputs_file.write_bytes(np.ascontiguousarray(inputs, np.int8).tobytes())
    outputs.unlink(missing_ok=True)
    elf = build(board, "modrun", app_src="")
    line = (f"module={module} inputs={inputs_file} outputs={outputs} count={len(inputs)} "
            f"{extra}").strip()  # fmt: skip
    with Qemu(board, elf, line, folder / f"{board}.serial.log") as q:
        status = q.wait(MODRUN_TIMEOUT)
        log = q.log()
    return status, outputs.read_bytes() if outputs.exists() else b"", log


def inference_instructions(log: str) -> list[int]:
    """Instructions of each modrun inference: SysTick cycles at the board's clock under
    -icount shift=0 (1 ns per instruction)."""
    sysclk = int(log.split(" sysclk ")[1].split()[0])
    return [int(line.split()[-1]) * 1_000_000_000 // sysclk for line in log.splitlines()
            if line.startswith("modrun: inference ")]  # fmt: skip
