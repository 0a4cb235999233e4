"""Many simulated devices in one process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..core.ddf import load_default
from ..core.firmware_update import UPDATE_RESULT, FirmwareResult
from .device import DeviceConfig, SimulatedDevice
from .profile import BOARDS


def fleet_configs(
    server: str,
    count: int,
    *,
    prefix: str = "sim",
    boards: Sequence[str] = (),
    tasks: Sequence[str] = (),
    **options: Any,
) -> list[DeviceConfig]:
    """`count` device configurations named <prefix>-0001...; boards and tasks cycle through
    the given ones (every board; the default task)."""
    board_cycle = itertools.cycle(list(boards) or list(BOARDS))
    task_cycle = itertools.cycle(list(tasks) or [DeviceConfig("").task])
    base = DeviceConfig(endpoint="", server=server)
    return [
        replace(
            base,
            endpoint=f"{prefix}-{n:04d}",
            board=BOARDS[next(board_cycle)],
            task=next(task_cycle),
            **options,
        )
        for n in range(1, count + 1)
    ]


def provisioned(device: SimulatedDevice) -> bool:
    """The device runs a model it installed (result 1 and a model in /32101/0/0)."""
    installed = device.tree.get(UPDATE_RESULT) == FirmwareResult.SUCCESS
    return installed and bool(device.tree.get("/32101/0/0"))


class Fleet:
    def __init__(self, configs: Sequence[DeviceConfig]) -> None:
        model = load_default()
        self.devices = [SimulatedDevice(c, model) for c in configs]

    async def start(
        self, concurrency: int = 50, progress: Callable[[SimulatedDevice], None] | None = None
    ) -> list[str]:
        """Start and register every device, at most `concurrency` registrations at a time;
        returns the endpoints that failed."""
        gate = asyncio.Semaphore(concurrency)
        failed: list[str] = []

        async def start_one(device: SimulatedDevice) -> None:
            async with gate:
                try:
                    await device.start()
                except Exception:
                    failed.append(device.config.endpoint)
                    await device.stop(deregister=False)
                if progress is not None:
                    progress(device)

        await asyncio.gather(*(start_one(d) for d in self.devices))
        return failed

    async def stop(self, deregister: bool = True) -> None:
        gate = asyncio.Semaphore(100)

        async def stop_one(device: SimulatedDevice) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    await device.stop(deregister)

        await asyncio.gather(*(stop_one(d) for d in self.devices))
