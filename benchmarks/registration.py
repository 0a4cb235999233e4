"""Registration benchmark: N simulated devices register, then update for a fixed time, against
our server (a separate `mlaas serve` process on a real SQLite file) and then, with the same load,
against libcoap's resource directory `coap-rd-notls` (C). Prints registrations/s, updates/s,
p50/p99 latency, the server's peak RSS, and the our/their throughput ratio.

    python benchmarks/registration.py --devices 2000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import aiocoap
import psutil
from aiocoap.numbers.codes import Code
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.sim import DeviceConfig, SimulatedDevice

console = Console(stderr=True)


@dataclass
class Result:
    server: str
    devices: int
    registered: int
    registrations_per_s: float
    register_p50_ms: float
    register_p99_ms: float
    updates: int
    updates_per_s: float
    update_p50_ms: float
    update_p99_ms: float
    update_answer: str
    alive_after: int | None
    refreshed_in_soak: int | None
    peak_rss_mb: float


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float(psutil.Process(pid).memory_info().rss) / 2**20


async def wait_until_up(port: int) -> None:
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        async with asyncio.timeout(30):
            while True:
                msg = aiocoap.Message(
                    code=Code.GET, uri=f"coap://127.0.0.1:{port}/.well-known/core"
                )
                try:
                    async with asyncio.timeout(0.5):
                        await context.request(msg).response
                    return
                except (TimeoutError, aiocoap.error.Error):
                    await asyncio.sleep(0.2)
    finally:
        await context.shutdown()


async def run_load(
    name: str, port: int, pid: int, args: argparse.Namespace, count_alive: bool
) -> Result:
    model = load_default()
    devices = [
        SimulatedDevice(
            DeviceConfig(
                f"bench-{n:05d}", server=f"coap://127.0.0.1:{port}", lifetime=args.lifetime
            ),
            model,
        )
        for n in range(args.devices)
    ]
    gate = asyncio.Semaphore(args.concurrency)
    register_latency: list[float] = []
    failures: dict[str, int] = {}
    last_registered = 0.0

    async def register(device: SimulatedDevice) -> None:
        nonlocal last_registered
        async with gate:
            started = time.perf_counter()
            try:
                await device.register(timeout=60)
            except Exception as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return
            last_registered = time.perf_counter()
            register_latency.append(last_registered - started)

    with Progress(
        TextColumn(f"{name}: {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        opening = progress.add_task("opening sockets", total=len(devices))
        for device in devices:
            await device.open()
            progress.advance(opening)
        task = progress.add_task("registering", total=len(devices))

        async def tracked(device: SimulatedDevice) -> None:
            await register(device)
            progress.advance(task)

        began = time.perf_counter()
        await asyncio.gather(*(tracked(d) for d in devices))
        register_time = last_registered - began
        registered = [d for d in devices if d.location is not None]

        update_latency: list[float] = []
        answers: dict[str, int] = {}
        deadline = time.perf_counter() + args.duration
        utask = progress.add_task("updating", total=None)

        async def keep_updating(device: SimulatedDevice) -> None:
            while time.perf_counter() < deadline:
                async with gate:
                    started = time.perf_counter()
                    try:
                        answer = await device._request(Code.POST, device.location or "", timeout=60)
                    except Exception as exc:
                        failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                        continue
                    update_latency.append(time.perf_counter() - started)
                    answers[str(answer.code)] = answers.get(str(answer.code), 0) + 1
                progress.advance(utask)

        began = time.perf_counter()
        await asyncio.gather(*(keep_updating(d) for d in registered))
        update_time = time.perf_counter() - began

        # soak: each device's own Zephyr-like update loop, for longer than a lifetime
        soak_start = time.time()
        if count_alive and args.soak:
            stask = progress.add_task(f"keep-alive soak ({args.soak:.0f} s)", total=args.soak)
            for device in registered:
                device.keep_alive()
            for _ in range(int(args.soak)):
                await asyncio.sleep(1)
                progress.advance(stask)

    alive = refreshed = None
    if count_alive:
        from lwm2m_mlaas.store import Store

        store = await Store.open(f"sqlite+aiosqlite:///{args.db}")
        async with store.transaction() as repo:
            stored = await repo.registrations()
        await store.close()
        alive = len(stored)
        refreshed = sum(1 for r in stored if r.last_update >= soak_start)
    rss = peak_rss_mb(pid)
    for device in devices:
        await device.stop(deregister=False)
    return Result(
        server=name,
        devices=len(devices),
        registered=len(registered),
        registrations_per_s=len(registered) / register_time,
        register_p50_ms=percentile(register_latency, 0.5),
        register_p99_ms=percentile(register_latency, 0.99),
        updates=len(update_latency),
        updates_per_s=len(update_latency) / update_time,
        update_p50_ms=percentile(update_latency, 0.5),
        update_p99_ms=percentile(update_latency, 0.99),
        update_answer=", ".join(f"{k}: {v}" for k, v in sorted({**answers, **failures}.items())),
        alive_after=alive,
        refreshed_in_soak=refreshed,
        peak_rss_mb=rss,
    )


async def main(args: argparse.Namespace) -> list[Result]:
    results = []
    port = free_udp_port()
    env = dict(os.environ, MLAAS_LIFETIME_GRACE="15", MLAAS_HTTP_PORT="-1",
               MLAAS_COAPS_PORT="-1")
    ours = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lwm2m_mlaas.cli.main",
            "serve",
            "--coap-host",
            "127.0.0.1",
            "--coap-port",
            str(port),
            "--db",
            str(args.db),
            "--log-level",
            "WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        await wait_until_up(port)
        results.append(await run_load("lwm2m-mlaas", port, ours.pid, args, count_alive=True))
    finally:
        ours.terminate()
        ours.wait(10)
    port = free_udp_port()
    theirs = subprocess.Popen(
        ["coap-rd-notls", "-A", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_until_up(port)
        results.append(await run_load("coap-rd-notls", port, theirs.pid, args, count_alive=False))
    finally:
        theirs.kill()
        theirs.wait(10)
    return results


def report(results: list[Result]) -> None:
    table = Table(title="Registration benchmark (loopback, one load process)")
    table.add_column("")
    for result in results:
        table.add_column(result.server, justify="right")
    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("devices registered", lambda r: f"{r.registered}/{r.devices}"),
        ("registrations/s", lambda r: f"{r.registrations_per_s:,.0f}"),
        ("register p50 / p99", lambda r: f"{r.register_p50_ms:.1f} / {r.register_p99_ms:.1f} ms"),
        ("updates/s", lambda r: f"{r.updates_per_s:,.0f}"),
        ("update p50 / p99", lambda r: f"{r.update_p50_ms:.1f} / {r.update_p99_ms:.1f} ms"),
        ("update answers", lambda r: r.update_answer),
        ("registered at the end", lambda r: "-" if r.alive_after is None else str(r.alive_after)),
        (
            "updated by own loop in soak",
            lambda r: "-" if r.refreshed_in_soak is None else str(r.refreshed_in_soak),
        ),
        ("server peak RSS", lambda r: f"{r.peak_rss_mb:.1f} MB"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(r) for r in results))
    Console().print(table)
    ours, theirs = results
    print(f"our/their registrations/s: {ours.registrations_per_s / theirs.registrations_per_s:.2f}")
    print(
        f"our/their requests/s during updates: {ours.updates_per_s / theirs.updates_per_s:.2f}"
        " (coap-rd-notls answers updates 4.05: it has no update operation)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=20.0, help="update phase, seconds")
    parser.add_argument("--lifetime", type=int, default=30, help="Zephyr samples' default")
    parser.add_argument(
        "--soak",
        type=float,
        default=40.0,
        help="seconds of the devices' own keep-alive loop after the update phase",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        arguments.db = Path(folder) / "bench.db"
        outcome = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps([asdict(r) for r in outcome], indent=2))
    else:
        report(outcome)
