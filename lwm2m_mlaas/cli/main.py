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

from ..config import ServerConfig
from ..core.registration import Registration
from ..sim.device import REGISTRATION_FORMS
from ..sim.fleet import Fleet, fleet_configs
from ..sim.profile import BOARDS
from .models import add_commands as add_model_commands

console = Console()


def _server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig.load(
        Path(args.config) if getattr(args, "config", None) else None,
        coap_host=getattr(args, "coap_host", None),
        coap_port=getattr(args, "coap_port", None),
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


def registration_json(r: Registration) -> dict[str, Any]:
    return {
        "endpoint": r.endpoint,
        "registrationId": r.id,
        "address": r.address,
        "lwM2mVersion": r.lwm2m_version,
        "bindingMode": r.binding,
        "queuemode": r.queue_mode,
        "lifetime": r.lifetime,
        "registrationDate": int(r.registration_date * 1000),
        "lastUpdate": int(r.last_update * 1000),
        "rootPath": r.root_path,
        "objectLinks": [
            {"url": link.target, "attributes": dict(link.attributes)} for link in r.object_links
        ],
    }


# commands
async def serve(args: argparse.Namespace) -> int:
    from ..server import build_server

    config = _server_config(args)
    _logging(config.log_level)
    async with build_server(config):
        console.print(
            f"LwM2M server on coap://{config.coap_host}:{config.coap_port}, "
            f"database {config.database_url}"
        )
        await _until_signal()
    return 0


async def sim(args: argparse.Namespace) -> int:
    _logging(args.log_level)
    configs = fleet_configs(
        args.server,
        args.devices,
        prefix=args.prefix,
        boards=args.board or (),
        lifetime=args.lifetime,
        lwm2m_version=args.lwm2m,
        queue_mode=args.queue,
        registration_form=args.form,
    )
    fleet = Fleet(configs)
    with _progress() as progress:
        task = progress.add_task("registering", total=len(configs))
        failed = await fleet.start(progress=lambda _d: progress.advance(task))
    console.print(
        f"{len(configs) - len(failed)} of {len(configs)} devices registered"
        + (f"; failed: {', '.join(failed[:10])}" if failed else "")
    )
    try:
        if args.duration:
            await asyncio.wait_for(_until_signal(), args.duration)
        else:
            await _until_signal()
    except TimeoutError:
        pass
    await fleet.stop()
    return 1 if failed else 0


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
        print(json.dumps([
            {"name": c.name, "board": c.board, "core": c.core, "clock_mhz": c.clock_mhz,
             "ram_bytes": c.ram_bytes, "ml_ram_bytes": c.ml_ram_bytes,
             "ml_flash_bytes": c.ml_flash_bytes, "runtimes": list(c.runtimes),
             "ops": sorted(c.ops)}
            for c in catalogue.values()
        ], indent=2))  # fmt: skip
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


async def demo(args: argparse.Namespace) -> int:
    from ..server import build_server

    config = _server_config(args)
    _logging("WARNING")
    async with build_server(config) as server:
        uri = f"coap://127.0.0.1:{server.port}"
        console.print(f"[bold]LwM2M server[/] on {uri}, database {config.database_url}")
        fleet = Fleet(fleet_configs(uri, args.devices, prefix="demo", lifetime=30))
        with _progress() as progress:
            task = progress.add_task("devices registering", total=len(fleet.devices))
            failed = await fleet.start(progress=lambda _d: progress.advance(task))
        await asyncio.sleep(0.2)
        registrations = server.registrations.all()
        console.print(registrations_table(registrations, "Registered fleet"))
        table = Table(title="Read from each device over LwM2M")
        for column in ("endpoint", "model /3/0/1", "core /32100/0/0", "ML RAM", "task"):
            table.add_column(column)
        for r in registrations:
            values = []
            for path in ("/3/0/1", "/32100/0/0", "/32100/0/2", "/32100/0/5"):
                response = await server.read(r.endpoint, path)
                node = getattr(response, "node", None)
                values.append(str(getattr(node, "value", "?")))
            values[2] = f"{int(values[2]) // 1024} KB" if values[2].isdigit() else values[2]
            table.add_row(r.endpoint, *values)
        console.print(table)
        await fleet.stop()
        await asyncio.sleep(0.2)
        left = server.registrations.all()
        console.print(f"devices de-registered; {len(left)} registration(s) left")
    return 1 if failed else 0


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
        "--board",
        action="append",
        choices=sorted(BOARDS),
        help="board profile (repeat to mix; default all)",
    )
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

    p = commands.add_parser("demo", help="server plus a simulated fleet, end to end")
    p.add_argument("--devices", type=int, default=6, help="number of simulated devices")
    p.add_argument("--coap-port", type=int, help="CoAP UDP port (default 5683)")
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
