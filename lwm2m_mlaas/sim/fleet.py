"""Many simulated devices in one process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..core.ddf import load_default
from .device import DeviceConfig, SimulatedDevice
from .profile import BOARDS


def fleet_configs(
    server: str, count: int, *, prefix: str = "sim", boards: Sequence[str] = (), **options: object
) -> list[DeviceConfig]:
    """`count` device configurations named <prefix>-0001...; boards cycle through `boards`."""
    names = list(boards) or list(BOARDS)
    cycle = itertools.cycle(names)
    base = DeviceConfig(endpoint="", server=server)
    return [
        replace(base, endpoint=f"{prefix}-{n:04d}", board=BOARDS[next(cycle)], **options)  # type: ignore[arg-type]
        for n in range(1, count + 1)
    ]


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
