"""Fixtures for the firmware on QEMU: `firmware` builds (once per session), `boot` starts
boards that are killed when the test ends, pass or fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.firmware.qemu import BOARDS, Boot, Qemu, build


@pytest.fixture(scope="session")
def firmware() -> Callable[..., Path]:
    """build(board, app=None, app_src=None) -> ELF path, cached for the session."""
    return build


@pytest.fixture(scope="session")
def netcheck() -> dict[str, Path]:
    """The netcheck bring-up app for every board, on the platform layer alone."""
    return {board: build(board, "netcheck", app_src="") for board in BOARDS}


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[Boot]:
    """boot(board, elf, cmdline) -> a started Qemu; its serial log is in tmp_path."""
    started: list[Qemu] = []

    def start(board: str, elf: Path, cmdline: str) -> Qemu:
        log = tmp_path / f"{board}-{len(started)}.serial.log"
        started.append(Qemu(board, elf, cmdline, log).start())
        return started[-1]

    yield start
    for q in started:
        q.kill()
