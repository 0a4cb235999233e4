"""Registration at fleet scale, with provisioning running: N simulated devices (each its own
socket, a mix of 4 classes, 3 tasks, push and pull) register with `mlaas serve` (its own
process, a new SQLite file), each starting its Zephyr-like keep-alive loop as soon as it is
registered; then they update as fast as they are answered for a fixed time while provisioning
runs behind; then the benchmark waits until every device runs its model. The same load goes to
`mlaas serve --no-provisioning` and to libcoap's C resource directory `coap-rd-notls`, from the
same load process, in the same run. Prints registrations/s, updates/s, p50/p99, devices expired,
devices provisioned and when, the server's peak RSS and CPU time, and our/their ratios.

    python benchmarks/registration.py --devices 10000 --lifetime 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import aiocoap
import psutil
from aiocoap.numbers.codes import Code
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.compiler.service import Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE, Signer
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from lwm2m_mlaas.sim.fleet import provisioned

console = Console(stderr=True)

CLASSES = ("nrf52840", "stm32f746", "mps2-an386", "nrf5340")
TASKS = ("gesture", "anomaly", "sine")
MODES = ("pull", "push")
GRACE = 15


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
    update_answers: str
    expired: int | None
    """Registrations the server dropped: updates (the benchmark's or the devices' own) it
    answered 4.04."""
    provisioned: int | None
    all_provisioned_after_s: float | None
    """From the first Register until the last device ran its model."""
    provisioned_by_minute: list[int] | None
    """Devices running their model at each full minute from the first Register."""
    peak_rss_mb: float
    """The server process's peak RSS (summed over the nodes of a service of several)."""
    cpu_s: float
    """The server process's user + system CPU time over the run (summed likewise)."""


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


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def wait_until_up(port: int) -> None:
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        async with asyncio.timeout(60):
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


def fleet(args: argparse.Namespace, server: Callable[[str], str], trust_key: bytes | None,
          **options: Any) -> list[SimulatedDevice]:  # fmt: skip
    """The device mix of `mlaas demo`, repeated: every class, task and delivery mode.
    `server` gives each endpoint its server's URI; `options` are more DeviceConfig fields."""
    model = load_default()
    plan = itertools.cycle(itertools.product(CLASSES, TASKS, MODES))
    base = DeviceConfig("", lifetime=args.lifetime, trust_key=trust_key, inference_interval=0,
                        record_messages=False, **options)  # fmt: skip
    devices = []
    for n in range(args.devices):
        board, task, mode = next(plan)
        endpoint = f"bench-{n:06d}"
        config = replace(base, endpoint=endpoint, server=server(endpoint), board=BOARDS[board],
                         task=task, delivery=mode)  # fmt: skip
        devices.append(SimulatedDevice(config, model))
    return devices


def prepare(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    """Quiet logs, the file limit a socket per device needs, and the service's signing key
    (devices are built trusting it) in `arguments.trust_key`."""
    logging.basicConfig(level=logging.ERROR)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if arguments.devices + 256 > hard:
        parser.error(f"{arguments.devices} sockets need a file limit above {hard}")
    Signer(Layout(arguments.data_dir).keys)
    arguments.trust_key = (Layout(arguments.data_dir).keys / PUBLIC_KEY_FILE).read_bytes()


def at(port: int) -> Callable[[str], str]:
    """Every endpoint's server: the one on 127.0.0.1:`port`."""
    return lambda _endpoint: f"coap://127.0.0.1:{port}"


async def run_load(
    name: str, devices: list[SimulatedDevice], pids: list[int], args: argparse.Namespace, *,
    provisioning: bool, keep_alive: bool,
    registration_phase: contextlib.AbstractAsyncContextManager[object] | None = None,
) -> Result:  # fmt: skip
    """Register the devices, update, then (provisioning) wait for them to run their models;
    the server is the processes `pids` (one, or a node each), their RSS and CPU time summed.
    `registration_phase` is entered around the registrations (to measure them from outside)."""
    gate = asyncio.Semaphore(args.concurrency)
    register_latency: list[float] = []
    answers: dict[str, int] = {}
    first_register = last_registered = 0.0
    cpu_before = sum(cpu_seconds(pid) for pid in pids)

    plain: list[asyncio.Task[None]] = []

    async def plain_keep_alive(device: SimulatedDevice) -> None:
        while True:
            await asyncio.sleep(device.update_interval())
            with contextlib.suppress(Exception):
                await device._request(Code.POST, device.location or "", timeout=30)

    def count(answer: str) -> None:
        answers[answer] = answers.get(answer, 0) + 1

    async def register(device: SimulatedDevice) -> None:
        nonlocal last_registered
        async with gate:
            started = time.perf_counter()
            try:
                await device.register(timeout=60)
            except Exception as exc:
                count(f"register: {type(exc).__name__}")
                return
            last_registered = time.perf_counter()
            register_latency.append(last_registered - started)
        if keep_alive:
            device.keep_alive()  # as a real client does, from its registration on
        else:  # the same updates at the same times, answers ignored (coap-rd-notls has none)
            plain.append(asyncio.create_task(plain_keep_alive(device)))

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
        registering = progress.add_task("registering", total=len(devices))

        async def tracked(device: SimulatedDevice) -> None:
            await register(device)
            progress.advance(registering)

        async with registration_phase or contextlib.nullcontext():
            first_register = time.perf_counter()
            await asyncio.gather(*(tracked(d) for d in devices))
        register_time = last_registered - first_register
        registered = [d for d in devices if d.location is not None]

        update_latency: list[float] = []
        deadline = time.perf_counter() + args.duration
        updating = progress.add_task(f"updating ({args.duration:.0f} s)", total=None)

        async def keep_updating(worker: int) -> None:
            for device in itertools.islice(itertools.cycle(registered), worker, None,
                                           args.concurrency):  # fmt: skip
                if time.perf_counter() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    answer = await device._request(Code.POST, device.location or "", timeout=60)
                except Exception as exc:
                    count(type(exc).__name__)
                    continue
                update_latency.append(time.perf_counter() - started)
                count(str(answer.code))
                progress.advance(updating)

        began = time.perf_counter()
        if registered:
            await asyncio.gather(*(keep_updating(w) for w in range(args.concurrency)))
        update_time = time.perf_counter() - began

        done_at: float | None = None
        by_minute: list[int] = []
        if provisioning:
            settling = progress.add_task("provisioned", total=len(devices))
            limit = first_register + args.settle
            while time.perf_counter() < limit:
                done = sum(provisioned(d) for d in devices)
                progress.update(settling, completed=done)
                while time.perf_counter() - first_register >= 60 * (len(by_minute) + 1):
                    by_minute.append(done)
                if done == len(devices):
                    done_at = time.perf_counter() - first_register
                    break
                await asyncio.sleep(1)
        elif keep_alive:
            soaking = progress.add_task(f"keep-alive ({args.soak:.0f} s)", total=args.soak)
            for _ in range(int(args.soak)):
                await asyncio.sleep(1)
                progress.advance(soaking)

    result = Result(
        server=name,
        devices=len(devices),
        registered=len(registered),
        registrations_per_s=len(registered) / register_time if register_time else 0.0,
        register_p50_ms=percentile(register_latency, 0.5),
        register_p99_ms=percentile(register_latency, 0.99),
        updates=len(update_latency),
        updates_per_s=len(update_latency) / update_time,
        update_p50_ms=percentile(update_latency, 0.5),
        update_p99_ms=percentile(update_latency, 0.99),
        update_answers=", ".join(f"{k}: {v}" for k, v in sorted(answers.items())),
        expired=(sum(d.registrations_lost for d in devices) + answers.get("4.04 Not Found", 0))
        if keep_alive else None,
        provisioned=sum(provisioned(d) for d in devices) if provisioning else None,
        all_provisioned_after_s=done_at,
        provisioned_by_minute=by_minute if provisioning else None,
        peak_rss_mb=sum(peak_rss_mb(pid) for pid in pids),
        cpu_s=sum(cpu_seconds(pid) for pid in pids) - cpu_before,
    )
    for task in plain:
        task.cancel()
    await asyncio.gather(*plain, return_exceptions=True)
    for device in devices:
        await device.stop(deregister=False)
    return result


async def ours(args: argparse.Namespace, provisioning: bool) -> Result:
    port = free_udp_port()
    env = dict(os.environ, MLAAS_LIFETIME_GRACE=str(GRACE), MLAAS_HTTP_PORT="-1",
               MLAAS_COAPS_PORT="-1")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "lwm2m_mlaas.cli.main", "serve", "--coap-host",
                   "127.0.0.1", "--coap-port", str(port), "--data-dir", str(args.data_dir),
                   "--db", str(Path(folder) / "bench.db"), "--log-level", "WARNING"]  # fmt: skip
        if not provisioning:
            command.append("--no-provisioning")
        if args.profile:  # where the server's time goes: py-spy samples it (raw stacks)
            output = f"{args.profile}.{'on' if provisioning else 'off'}"
            spy = str(Path(sys.executable).parent / "py-spy")
            command = [spy, "record", "--rate", "50", "--format", "raw", "--output", output,
                       "--", *command]  # fmt: skip
        log = Path(folder) / "server.log"
        with log.open("w") as stderr:
            server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            await wait_until_up(port)
            name = "lwm2m-mlaas" + ("" if provisioning else " (no provisioning)")
            return await run_load(name, fleet(args, at(port), args.trust_key), [server.pid],
                                  args, provisioning=provisioning, keep_alive=True)  # fmt: skip
        finally:
            server.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)
            server.wait(60)
            errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
            if errors:
                console.print(f"[yellow]server logged {len(errors)} errors, e.g. {errors[0]}[/]")


async def theirs(args: argparse.Namespace) -> Result:
    port = free_udp_port()
    rd = subprocess.Popen(["coap-rd-notls", "-A", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        await wait_until_up(port)
        return await run_load("coap-rd-notls", fleet(args, at(port), None), [rd.pid], args,
                              provisioning=False, keep_alive=False)  # fmt: skip
    finally:
        rd.kill()
        rd.wait(10)


async def main(args: argparse.Namespace) -> list[Result]:
    results = []
    for row in args.rows:
        if row == "theirs":
            results.append(await theirs(args))
        else:
            results.append(await ours(args, provisioning=row == "on"))
    return results


def report(results: list[Result], args: argparse.Namespace) -> None:
    table = Table(title=f"Registration with provisioning: {args.devices:,} devices, lifetime "
                        f"{args.lifetime} s, {args.concurrency} requests in flight")  # fmt: skip
    table.add_column("")
    for result in results:
        table.add_column(result.server, justify="right")

    def maybe(value: object, shown: Callable[[object], str] = str) -> str:
        return "-" if value is None else shown(value)

    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("devices registered", lambda r: f"{r.registered:,}/{r.devices:,}"),
        ("registrations/s", lambda r: f"{r.registrations_per_s:,.0f}"),
        ("register p50 / p99", lambda r: f"{r.register_p50_ms:.1f} / {r.register_p99_ms:.1f} ms"),
        ("updates/s", lambda r: f"{r.updates_per_s:,.0f}"),
        ("update p50 / p99", lambda r: f"{r.update_p50_ms:.1f} / {r.update_p99_ms:.1f} ms"),
        ("update answers", lambda r: r.update_answers),
        ("devices expired", lambda r: maybe(r.expired)),
        ("devices provisioned", lambda r: maybe(r.provisioned, lambda v: f"{v:,}")),
        ("all provisioned after", lambda r: maybe(r.all_provisioned_after_s,
                                                  lambda v: f"{v:.0f} s")),
        ("provisioned by minute", lambda r: "-" if r.provisioned_by_minute is None
         else " ".join(f"{n:,}" for n in r.provisioned_by_minute)),
        ("server peak RSS", lambda r: f"{r.peak_rss_mb:.1f} MB"),
        ("server CPU time", lambda r: f"{r.cpu_s:.1f} s"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(r) for r in results))
    Console().print(table)
    reference = next((r for r in results if r.server == "coap-rd-notls"), None)
    for result in results:
        if reference is None or result is reference:
            continue
        print(f"{result.server} / coap-rd-notls: registrations/s "
              f"{result.registrations_per_s / reference.registrations_per_s:.2f}, requests/s "
              f"during updates {result.updates_per_s / reference.updates_per_s:.2f}")  # fmt: skip
    print("(coap-rd-notls answers updates 4.05: it has no update operation.) Sharing the two "
          "cores: the server, this load process, its TFLite-Micro workers (2 processes) and "
          "the server's compile worker.")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=20.0, help="update phase, seconds")
    parser.add_argument("--lifetime", type=int, default=30, help="Zephyr samples' default")
    parser.add_argument("--settle", type=float, default=600.0,
                        help="seconds from the first Register for every device to be provisioned")
    parser.add_argument("--soak", type=float, default=2.0 * 30 + GRACE,
                        help="keep-alive seconds after the update phase without provisioning")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--data-dir", type=Path,
                        default=Path.home() / ".cache" / "lwm2m-mlaas" / "bench",
                        help="the server's data dir: zoo, keys and compiled measurements are "
                             "kept between runs; the database is new each run")
    parser.add_argument("--rows", type=lambda text: text.split(","),
                        default=["on", "off", "theirs"],
                        help="servers to run, in order: on (provisioning), off "
                             "(--no-provisioning), theirs (coap-rd-notls)")
    parser.add_argument("--profile", type=Path,
                        help="record the server (provisioning on) with py-spy into this file")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    arguments = parser.parse_args()
    prepare(parser, arguments)
    outcome = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps([asdict(r) for r in outcome], indent=2))
    else:
        report(outcome, arguments)
