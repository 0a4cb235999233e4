"""The `mlaas` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api.auth import TOKEN_FILE
from ..api.leshan import registration_json
from ..api.shapes import device_class_json
from ..config import ServerConfig
from ..core.registration import Registration
from ..sim.device import REGISTRATION_FORMS
from ..sim.fleet import Fleet, fleet_configs, provisioned
from ..sim.profile import BOARDS
from .models import add_commands as add_model_commands

console = Console()


def _server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig.load(
        Path(args.config) if getattr(args, "config", None) else None,
        coap_host=getattr(args, "coap_host", None),
        coap_port=getattr(args, "coap_port", None),
        http_host=getattr(args, "http_host", None),
        http_port=getattr(args, "http_port", None),
        open_reads=False if getattr(args, "closed_reads", False) else None,
        db=args.db,
        data_dir=args.data_dir,
        log_level=args.log_level,
    )


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("coap-server").setLevel(
        max(logging.WARNING, logging.getLevelName(level.upper()))
    )


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def registrations_table(registrations: Sequence[Registration], title: str) -> Table:
    table = Table(title=title)
    for column in ("endpoint", "id", "address", "LwM2M", "b", "lt", "seen"):
        table.add_column(column, no_wrap=True)
    table.add_column("objects", overflow="fold")
    now = time.time()
    for r in registrations:
        table.add_row(
            r.endpoint,
            r.id,
            r.address,
            r.lwm2m_version,
            r.binding + ("Q" if r.queue_mode else ""),
            f"{r.lifetime}s",
            f"{now - r.last_update:.0f}s ago",
            ",".join(str(o) for o in r.available_instances),
        )
    return table


# commands
async def serve(args: argparse.Namespace) -> int:
    from ..fleet.app import MlaasService

    config = _server_config(args)
    _logging(config.log_level)
    async with MlaasService(config, compile_workers=args.compile_workers) as service:
        console.print(
            f"LwM2M server on coap://{config.coap_host}:{config.coap_port}, "
            f"database {config.database_url}"
        )
        if service.api is not None:
            console.print(f"REST API on {service.api.url}/api (token in "
                          f"{config.data_dir / TOKEN_FILE})")  # fmt: skip
        await _until_signal()
    return 0


def _trust_key(args: argparse.Namespace) -> bytes | None:
    from ..compiler.service import Layout
    from ..compiler.signing import PUBLIC_KEY_FILE

    path = (
        Path(args.trust_key)
        if args.trust_key
        else Layout(ServerConfig.load(data_dir=args.data_dir).data_dir).keys / PUBLIC_KEY_FILE
    )
    return path.read_bytes() if path.is_file() else None  # fmt: skip


def _fail(text: str | None) -> float:
    if not text:
        return 0.0
    kind, _, value = text.partition(":")
    if kind != "integrity" or not value:
        raise SystemExit(f"--fail takes integrity:P, not {text!r}")
    return float(value)


async def sim(args: argparse.Namespace) -> int:
    _logging(args.log_level)
    configs = fleet_configs(
        args.server,
        args.devices,
        prefix=args.prefix,
        boards=args.board or (),
        tasks=args.task or (),
        lifetime=args.lifetime,
        lwm2m_version=args.lwm2m,
        queue_mode=args.queue,
        registration_form=args.form,
        delivery=args.delivery,
        trust_key=_trust_key(args),
        corrupt_fraction=_fail(args.fail),
    )
    fleet = Fleet(configs)
    with _progress() as progress:
        task = progress.add_task("registering", total=len(configs))
        failed = await fleet.start(progress=lambda _d: progress.advance(task))
    console.print(
        f"{len(configs) - len(failed)} of {len(configs)} devices registered"
        + (f"; failed: {', '.join(failed[:10])}" if failed else "")
    )
    outcome = 1 if failed else 0
    try:
        if args.until_provisioned is not None:
            outcome = max(outcome, await _until_provisioned(fleet, args.until_provisioned))
        elif args.duration:
            await asyncio.wait_for(_until_signal(), args.duration)
        else:
            await _until_signal()
    except TimeoutError:
        pass
    await fleet.stop()
    return outcome


async def _until_provisioned(fleet: Fleet, timeout: float) -> int:
    """0 once every device runs a model; 1 when `timeout` seconds pass first."""
    total = len(fleet.devices)
    with _progress() as progress:
        bar = progress.add_task("provisioned", total=total)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = sum(provisioned(d) for d in fleet.devices)
            progress.update(bar, completed=done)
            if done == total:
                return 0
            await asyncio.sleep(0.5)
    missing = [d.config.endpoint for d in fleet.devices if not provisioned(d)]
    console.print(f"[red]{len(missing)} device(s) not running a model after {timeout:.0f} s: "
                  f"{', '.join(missing[:10])}[/]")  # fmt: skip
    return 1


async def devices(args: argparse.Namespace) -> int:
    from ..store import Store

    config = _server_config(args)
    store = await Store.open(config.database_url)
    try:
        async with store.transaction() as repo:
            registrations = await repo.registrations()
    finally:
        await store.close()
    if args.json:
        print(json.dumps([registration_json(r) for r in registrations], indent=2))
    else:
        console.print(registrations_table(registrations, f"{len(registrations)} registered"))
    return 0


async def classes_list(args: argparse.Namespace) -> int:
    from ..compiler.targets import load_catalogue

    catalogue = load_catalogue()
    if args.json:
        print(json.dumps([device_class_json(c) for c in catalogue.values()], indent=2))
        return 0
    table = Table(title=f"{len(catalogue)} device classes (RAM and flash in KB)")
    for column in ("class", "core", "MHz", "RAM", "ML RAM", "ML flash", "ops"):
        table.add_column(column, no_wrap=True, justify="left" if column in (
            "class", "core") else "right")  # fmt: skip
    for c in catalogue.values():
        table.add_row(c.name, c.core, str(c.clock_mhz), str(c.ram_bytes // 1024),
                      str(c.ml_ram_bytes // 1024), str(c.ml_flash_bytes // 1024),
                      str(len(c.ops)))  # fmt: skip
    console.print(table)
    return 0


DEMO_CLASSES = ("nrf52840", "stm32f746", "mps2-an386", "nrf5340")
DEMO_TASKS = ("gesture", "anomaly", "sine")
STAGES = ("classified", "compiled", "delivering", "running")


async def demo(args: argparse.Namespace) -> int:
    """The main job: a mixed simulated fleet registers and every device ends up running the
    model compiled for its class, delivered over LwM2M object 5 by push or pull."""
    from dataclasses import replace as replace_config

    from ..compiler.service import Layout
    from ..compiler.signing import PUBLIC_KEY_FILE, Signer
    from ..fleet.app import MlaasService
    from ..server import Event, EventKind
    from ..sim import DeviceConfig

    config = _server_config(args)
    _logging("WARNING")
    Signer(Layout(config.data_dir).keys)  # devices are given the service's key up front
    trust_key = (Layout(config.data_dir).keys / PUBLIC_KEY_FILE).read_bytes()
    plan = [(c, t, m) for c in DEMO_CLASSES for t in DEMO_TASKS for m in ("pull", "push")]
    reached: dict[str, dict[str, float]] = {}
    async with MlaasService(config, compile_workers=2) as service:
        uri = f"coap://127.0.0.1:{service.server.port}"
        console.print(f"[bold]lwm2m-mlaas[/] on {uri}, database {config.database_url}")
        if service.api is not None:
            console.print(f"REST API on {service.api.url}/api, e.g. {service.api.url}"
                          "/api/clients")  # fmt: skip
        simulated = Fleet([
            replace_config(
                DeviceConfig(f"demo-{n:02d}", server=uri, lifetime=60), board=BOARDS[board],
                task=task, delivery=mode, trust_key=trust_key, inference_interval=0.5)
            for n, (board, task, mode) in enumerate(plan, start=1)
        ])  # fmt: skip
        fleet = simulated.devices
        with _progress() as progress:
            bars = {stage: progress.add_task(stage, total=len(fleet)) for stage in STAGES}

            def on_event(event: Event) -> None:
                if event.kind is not EventKind.PROVISIONING:
                    return
                stage = event.data.get("stage")
                if stage == "delivery":
                    stage = {"succeeded": "running", "failed": "failed"}.get(
                        event.data["state"], "delivering"
                    )
                times = reached.setdefault(event.registration.endpoint, {})
                if stage in STAGES and stage not in times:
                    times[stage] = time.monotonic()
                    progress.advance(bars[stage])

            with service.server.events.listening(on_event):
                started = time.monotonic()
                await simulated.start()
                deadline = started + args.timeout
                while time.monotonic() < deadline and not _settled(service, fleet):
                    await asyncio.sleep(0.5)
        table = Table(title=f"{len(fleet)} devices, provisioned over LwM2M")
        for column in ("device", "class", "model", "arena KB", "delivery", "running after"):
            table.add_column(column, no_wrap=True)
        failures = []
        for device in fleet:
            endpoint = device.config.endpoint
            status = service.provisioning.status.get(endpoint)
            ran = reached.get(endpoint, {}).get("running")
            if status is None or status.stage != "running":
                failures.append((endpoint, status.reason if status else "never provisioned"))
            table.add_row(
                endpoint, device.config.board.board,
                status.model or device.config.task if status else device.config.task,
                f"{status.arena_bytes / 1024:.1f}" if status and status.arena_bytes else "-",
                status.mode or "-" if status else "-",
                f"{ran - started:.1f} s" if ran else "[red]not running[/]")  # fmt: skip
        console.print(table)
        for endpoint, reason in failures:
            console.print(f"[red]{endpoint}: {reason}[/]")
        await simulated.stop()
    running = len(fleet) - len(failures)
    console.print(f"{running} of {len(fleet)} devices run the model compiled for their class")
    return 1 if failures else 0


def _settled(service: Any, devices: list[Any]) -> bool:
    """Every device runs its model or has failed for good."""
    stages = [service.provisioning.status.get(d.config.endpoint) for d in devices]
    return all(s is not None and s.stage in ("running", "failed") for s in stages)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="SQLite file path or SQLAlchemy URL")
    parser.add_argument("--data-dir", type=Path, help="folder for the database and artifacts")
    parser.add_argument("--config", help="TOML configuration file ([server] table)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mlaas", description="TinyML as-a-Service over LwM2M")
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the LwM2M server")
    p.add_argument("--coap-host", help="CoAP bind address (default ::, every address)")
    p.add_argument("--coap-port", type=int, help="CoAP UDP port (default 5683)")
    p.add_argument("--compile-workers", type=int, default=1, help="compile processes")
    p.add_argument("--http-host", help="REST API bind address (default 127.0.0.1)")
    p.add_argument("--http-port", type=int,
                   help="REST API port (default 8080; 0 picks one, -1 runs none)")
    p.add_argument("--closed-reads", action="store_true",
                   help="ask for the token on Leshan's read routes too")  # fmt: skip
    _add_storage(p)
    p.set_defaults(run=serve)

    p = commands.add_parser("sim", help="run simulated LwM2M devices")
    p.add_argument("--server", default="coap://127.0.0.1:5683", help="server URI")
    p.add_argument("--devices", type=int, default=1, help="number of devices")
    p.add_argument("--prefix", default="sim", help="endpoint name prefix")
    p.add_argument("--lifetime", type=int, default=30, help="registration lifetime, seconds")
    p.add_argument("--lwm2m", default="1.1", choices=("1.0", "1.1"), help="LwM2M version")
    p.add_argument("--queue", action="store_true", help="queue mode (sleepy devices)")
    p.add_argument(
        "--form", default="senml-cbor", choices=REGISTRATION_FORMS, help="registration payload form"
    )
    p.add_argument(
        "--class",
        "--board",
        dest="board",
        action="append",
        choices=sorted(BOARDS),
        help="device class / board profile (repeat to mix; default all)",
    )
    p.add_argument("--task", action="append", help="task the devices ask for (repeat to mix)")
    p.add_argument(
        "--delivery",
        default="both",
        choices=("push", "pull", "both"),
        help="firmware delivery the devices accept (/5/0/9)",
    )
    p.add_argument(
        "--fail", metavar="integrity:P", help="corrupt a fraction P of received packages"
    )
    p.add_argument(
        "--until-provisioned",
        type=float,
        nargs="?",
        const=300.0,
        metavar="TIMEOUT",
        help="exit 0 once every device runs a model, 1 after TIMEOUT s (300)",
    )
    p.add_argument("--trust-key", help="the service's public key (default: the data dir's)")
    p.add_argument("--data-dir", type=Path, help="where the service's key is found")
    p.add_argument("--duration", type=float, help="seconds to run, then de-register and exit")
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(run=sim)

    p = commands.add_parser("devices", help="list registered devices from the database")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_storage(p)
    p.set_defaults(run=devices)

    classes = commands.add_parser("classes", help="device classes the compiler targets")
    classes_commands = classes.add_subparsers(dest="classes_command", required=True)
    p = classes_commands.add_parser("list", help="the device class catalogue")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=classes_list)

    add_model_commands(commands)

    p = commands.add_parser("demo", help="the main job: a simulated fleet provisioned end to end")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the fleet")
    p.add_argument("--coap-port", type=int, help="CoAP UDP port (default 5683)")
    p.add_argument("--http-port", type=int, default=0,
                   help="REST API port (default: a free one; -1 runs none)")  # fmt: skip
    _add_storage(p)
    p.set_defaults(run=demo, coap_host="127.0.0.1")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(asyncio.run(args.run(args)))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        console.print(f"[red]mlaas {args.command}: {exc.strerror or exc}[/]")
        return 1


if __name__ == "__main__":
    sys.exit(main())
