"""100,000 registered devices on one node: a keep-alive soak, then a restart.

`mlaas serve` (provisioning on, a new SQLite file) is registered by N simulated devices from
several load processes (each on its own loopback address, so that every device has a socket
of its own), lifetime 300 s. The devices ask for no task: provisioning reads and classifies
each, then leaves it idle. Every device keeps its registration alive with Zephyr's update loop
for the soak, which outlasts a lifetime plus the grace period. Then the server is killed
(SIGKILL) and started again on the same database, while the devices go on.

Prints registrations/s, devices expired (updates answered 4.04), the server's RSS before any
device registered and after the soak, per registered device, and after the restart the seconds
until an update is answered 2.04 again and the registrations it restored.

    python benchmarks/soak.py --devices 100000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiocoap
import psutil
from aiocoap.numbers.codes import Code
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice

console = Console(stderr=True)
PER_PROCESS = 12_500
"""Devices per load process (its file limit is 20,000; a loopback address has 28,000 ports)."""
GRACE = 15
STATUS_EVERY = 2.0


@dataclass
class Soak:
    devices: int
    load_processes: int
    registered: int
    registrations_per_s: float
    soak_s: float
    expired: int
    """Updates answered 4.04 during the soak (the server had dropped the registration)."""
    stored_after_soak: int
    base_rss_mb: float
    rss_after_soak_mb: float
    rss_per_device_kb: float
    restart_to_update_s: float | None
    """From starting the killed server again until a device's update is answered 2.04."""
    restored: int
    """Registrations the restarted server loaded."""
    expired_after_restart: int
    rss_after_restart_mb: float
    """The restarted server holding the restored registrations, after `--after-restart` s."""
    rss_per_restored_kb: float


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM registrations").fetchone()[0])


# -- a load process: its share of the devices, reporting on stdout ---------------------------


async def load(args: argparse.Namespace) -> None:
    model = load_default()
    board = BOARDS["nrf52840"]
    devices = [
        SimulatedDevice(DeviceConfig(f"soak-{n:06d}", server=f"coap://127.0.0.1:{args.port}",
                                     lifetime=args.lifetime, task="", board=board,
                                     bind_host=args.bind, inference_interval=0,
                                     record_messages=False), model)
        for n in range(args.first, args.first + args.count)
    ]  # fmt: skip
    for device in devices:
        await device.open()
    gate = asyncio.Semaphore(args.concurrency)
    failed = 0

    async def start(device: SimulatedDevice) -> None:
        nonlocal failed
        async with gate:
            try:
                await device.register(timeout=120)
            except Exception:
                failed += 1
                return
        device.keep_alive()

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    starting = asyncio.gather(*(start(d) for d in devices))
    while not stop.is_set():
        registered = sum(d.location is not None for d in devices)
        lost = sum(d.registrations_lost for d in devices)
        print(json.dumps({"registered": registered, "lost": lost, "failed": failed}), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATUS_EVERY)
    starting.cancel()
    for device in devices:
        await device.stop(deregister=False)


# -- the run ------------------------------------------------------------------------------------


class LoadProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.status = {"registered": 0, "lost": 0, "failed": 0}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.status = json.loads(line)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        await self.reader


def serve(args: argparse.Namespace, db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, MLAAS_LIFETIME_GRACE=str(GRACE), MLAAS_HTTP_PORT="-1",
               MLAAS_COAPS_PORT="-1")  # fmt: skip
    command = [sys.executable, "-m", "lwm2m_mlaas.cli.main", "serve", "--coap-host",
               "127.0.0.1", "--coap-port", str(args.port), "--data-dir", str(args.data_dir),
               "--db", str(db), "--log-level", "WARNING"]  # fmt: skip
    with log.open("a") as stderr:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


async def answered(probe: SimulatedDevice, timeout: float) -> bool:
    """One Update of the probe device answered 2.04 within `timeout` seconds."""
    try:
        answer = await probe._request(Code.POST, probe.location or "", timeout=timeout)
    except (TimeoutError, aiocoap.error.Error):
        return False
    return bool(answer.code == Code.CHANGED)


async def run(args: argparse.Namespace, folder: Path) -> Soak:
    db, log = folder / "soak.db", folder / "server.log"
    server = serve(args, db, log)
    probe = SimulatedDevice(DeviceConfig("soak-probe", server=f"coap://127.0.0.1:{args.port}",
                                         lifetime=args.lifetime, task="",
                                         inference_interval=0))  # fmt: skip
    await probe.open()
    async with asyncio.timeout(60):
        while True:
            try:
                await probe.register(timeout=1)
                break
            except (TimeoutError, aiocoap.error.Error, RuntimeError):
                await asyncio.sleep(0.5)
    probe.keep_alive()  # (its registration has to outlast the soak too)
    await asyncio.sleep(5)  # the server settles (provisioning of the probe)
    base = rss_mb(server.pid)
    count = args.devices - 1
    shares = [(first, min(PER_PROCESS, count - first)) for first in range(0, count, PER_PROCESS)]
    loads = []
    for n, (first, size) in enumerate(shares):
        spawned = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", "--port", str(args.port), "--first", str(first),
            "--count", str(size), "--bind", f"127.0.1.{n + 1}", "--lifetime", str(args.lifetime),
            "--concurrency", str(max(1, args.concurrency // len(shares))),
            stdout=asyncio.subprocess.PIPE)  # fmt: skip
        loads.append(LoadProcess(spawned))

    def total(key: str) -> int:
        return sum(p.status[key] for p in loads)

    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:  # fmt: skip
            registering = progress.add_task("registering", total=count)
            began = time.perf_counter()
            while total("registered") + total("failed") < count:
                if time.perf_counter() - began > args.register_timeout:
                    break
                progress.update(registering, completed=total("registered"))
                await asyncio.sleep(0.5)
            took = time.perf_counter() - began
            registered = total("registered")
            progress.update(registering, completed=registered)
            soaking = progress.add_task(f"keep-alive soak ({args.soak:.0f} s)", total=args.soak)
            lost_before = total("lost")
            for _ in range(int(args.soak)):
                await asyncio.sleep(1)
                progress.advance(soaking)
            expired = total("lost") - lost_before
            after = rss_mb(server.pid)
            kept = stored(db)

            server.send_signal(signal.SIGKILL)
            server.wait()
            restarting = progress.add_task("restarted, until an update is answered", total=None)
            started = time.perf_counter()
            server = serve(args, db, log)
            back: float | None = None
            while time.perf_counter() - started < args.restart_timeout:
                if await answered(probe, timeout=1.0):
                    back = time.perf_counter() - started
                    break
                progress.advance(restarting)
                await asyncio.sleep(0.1)
            lost_before = total("lost")
            settling = progress.add_task("after the restart", total=args.after_restart)
            for _ in range(int(args.after_restart)):
                await asyncio.sleep(1)
                progress.advance(settling)
            expired_after = total("lost") - lost_before
            restarted_rss = rss_mb(server.pid)
    finally:
        for share in loads:
            await share.stop()
        await probe.stop(deregister=False)
        server.terminate()
        server.wait(30)
    return Soak(
        devices=args.devices, load_processes=len(loads), registered=registered + 1,
        registrations_per_s=registered / took, soak_s=args.soak, expired=expired,
        stored_after_soak=kept, base_rss_mb=base, rss_after_soak_mb=after,
        rss_per_device_kb=(after - base) * 1024 / max(1, registered), restart_to_update_s=back,
        restored=stored(db), expired_after_restart=expired_after,
        rss_after_restart_mb=restarted_rss,
        rss_per_restored_kb=(restarted_rss - base) * 1024 / max(1, stored(db)),
    )  # fmt: skip


def report(soak: Soak) -> None:
    table = Table(title=f"{soak.devices:,} devices on one node ({soak.load_processes} load "
                        "processes, lifetime 300 s)")  # fmt: skip
    table.add_column("")
    table.add_column("lwm2m-mlaas", justify="right")
    back = soak.restart_to_update_s
    for label, value in (
        ("devices registered", f"{soak.registered:,}/{soak.devices:,}"),
        ("registrations/s", f"{soak.registrations_per_s:,.0f}"),
        (f"expired in the {soak.soak_s:.0f} s soak", f"{soak.expired:,}"),
        ("registrations stored after the soak", f"{soak.stored_after_soak:,}"),
        ("server RSS before / after", f"{soak.base_rss_mb:.0f} / {soak.rss_after_soak_mb:.0f} MB"),
        ("RSS per registered device", f"{soak.rss_per_device_kb:.2f} KB"),
        ("kill -9, restart: update answered after", "never" if back is None else f"{back:.1f} s"),
        ("registrations restored", f"{soak.restored:,}"),
        ("expired after the restart", f"{soak.expired_after_restart:,}"),
        ("restarted server RSS / per restored device",
         f"{soak.rss_after_restart_mb:.0f} MB / {soak.rss_per_restored_kb:.2f} KB"),
    ):
        table.add_row(label, value)
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--lifetime", type=int, default=300)
    parser.add_argument("--soak", type=float, default=300 + GRACE + 60,
                        help="seconds of keep-alive after the last registration")
    parser.add_argument("--concurrency", type=int, default=128,
                        help="registrations in flight, over every load process")
    parser.add_argument("--register-timeout", type=float, default=1200.0)
    parser.add_argument("--restart-timeout", type=float, default=120.0)
    parser.add_argument("--after-restart", type=float, default=30.0,
                        help="seconds the devices go on after the restart, counting expiries")
    parser.add_argument("--data-dir", type=Path,
                        default=Path.home() / ".cache" / "lwm2m-mlaas" / "bench")
    parser.add_argument("--port", type=int, default=15783)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bind", default="127.0.0.1", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if arguments.load:
        asyncio.run(load(arguments))
        sys.exit(0)
    with tempfile.TemporaryDirectory() as scratch:
        outcome = asyncio.run(run(arguments, Path(scratch)))
    if arguments.json:
        print(json.dumps(asdict(outcome), indent=2))
    else:
        report(outcome)
