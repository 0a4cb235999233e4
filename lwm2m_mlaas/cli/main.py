"""The `mlaas` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from ..api.auth import TOKEN_FILE
from ..config import ServerConfig
from ..sim.device import REGISTRATION_FORMS
from ..sim.fleet import Fleet
from ..sim.profile import BOARDS
from . import keys, remote
from .client import DEFAULT_SERVER, ApiClient, ApiFailure, find_token
from .compiling import compile_command, package_verify
from .output import progress_bars
from .rollouts import rollout
from .simulating import (
    NoTrustKey,
    SimOptions,
    corrupt_fraction,
    find_trust_key,
    sim,
    stop_signal,
)

console = Console()


def server_config(config_file: str | None = None, *, db: str | None = None,
                  data_dir: Path | None = None, log_level: str | None = None,
                  coap_host: str | None = None, coap_port: int | None = None,
                  http_host: str | None = None, http_port: int | None = None,
                  coaps_host: str | None = None, coaps_port: int | None = None,
                  closed_reads: bool = False, no_provisioning: bool = False,
                  node_id: str | None = None,
                  leshan_open: bool = False) -> ServerConfig:  # fmt: skip
    """The configuration a local command runs with: defaults, --config file, MLAAS_*
    environment, then the flags given (None: not given)."""
    return ServerConfig.load(
        Path(config_file) if config_file else None,
        coap_host=coap_host,
        coap_port=coap_port,
        http_host=http_host,
        http_port=http_port,
        coaps_host=coaps_host,
        coaps_port=coaps_port,
        open_reads=False if closed_reads else None,
        leshan_open=True if leshan_open else None,
        provisioning=False if no_provisioning else None,
        node_id=node_id,
        db=db,
        data_dir=data_dir,
        log_level=log_level,
    )


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("coap-server", "alembic"):  # alembic: the store logs its migrations itself
        logging.getLogger(chatty).setLevel(
            max(logging.WARNING, logging.getLevelName(level.upper()))
        )


# commands
async def serve(config: ServerConfig, compile_workers: int = 1) -> int:
    from ..app import MlaasService

    _logging(config.log_level)
    stop = stop_signal()
    async with MlaasService(config, compile_workers=compile_workers) as service:
        nosec = f"coap://{config.coap_host}:{config.coap_port}" if config.coap_port >= 0 \
            else "no NoSec CoAP"  # fmt: skip
        console.print(f"LwM2M server on {nosec}, database {config.database_url}")
        if service.server.dtls_port is not None:
            console.print(f"CoAPs (DTLS-PSK) on coaps://{config.coaps_host}:"
                          f"{service.server.dtls_port}")  # fmt: skip
        if service.api is not None:
            console.print(f"REST API on {service.api.url}/api (token in "
                          f"{config.data_dir / TOKEN_FILE})")  # fmt: skip
            console.print(f"Dashboard on {service.api.url}/ui/")
        await stop.wait()
    return 0


DEMO_CLASSES = ("nrf52840", "stm32f746", "mps2-an386", "nrf5340")
DEMO_TASKS = ("gesture", "anomaly", "sine")
STAGES = ("classified", "compiled", "delivering", "running")


async def demo(config: ServerConfig, timeout: float = 600.0) -> int:
    """The main job: a mixed simulated fleet registers and every device ends up running the
    model compiled for its class, delivered over LwM2M object 5 by push or pull."""
    from dataclasses import replace as replace_config

    from ..app import MlaasService
    from ..compiler.service import Layout
    from ..compiler.signing import PUBLIC_KEY_FILE, Signer
    from ..server import Event, EventKind
    from ..sim import DeviceConfig

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
            console.print(f"Dashboard on {service.api.url}/ui/ (log in with the token in "
                          f"{config.data_dir / TOKEN_FILE})")  # fmt: skip
        simulated = Fleet([
            replace_config(
                DeviceConfig(f"demo-{n:02d}", server=uri, lifetime=60), board=BOARDS[board],
                task=task, delivery=mode, trust_key=trust_key, inference_interval=0.5)
            for n, (board, task, mode) in enumerate(plan, start=1)
        ])  # fmt: skip
        fleet = simulated.devices
        with progress_bars(console) as progress:
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
                deadline = started + timeout
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


def _run(command: Callable[[], Coroutine[Any, Any, int]]) -> NoReturn:
    """Run a local command's coroutine (made inside, so that reading its configuration fails
    the same way); its result is the exit code."""
    try:
        code = int(asyncio.run(command()))
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:
        console.print(f"[red]mlaas: {exc.strerror or exc}[/]")
        code = 1
    sys.exit(code)


def storage(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed((
        click.option("--db", help="SQLite file path or SQLAlchemy URL"),
        click.option("--data-dir", type=click.Path(path_type=Path),
                     help="folder for the database and artifacts"),
        click.option("--config", "config_file", help="TOML configuration file ([server] table)"),
        click.option("--log-level", default="INFO", show_default=True, help="logging level"),
    )):  # fmt: skip
        function = option(function)
    return function


class OperatorError(click.ClickException):
    """An operator command that failed: one line on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"mlaas: {self.message}", err=True)


class Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiFailure as exc:
            raise OperatorError(str(exc)) from None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", envvar="MLAAS_SERVER", default=DEFAULT_SERVER, show_default=True,
              help="the REST API operator commands talk to")
@click.option("--token", help="the API's bearer token (default: MLAAS_TOKEN, or the data "
                              "dir's api-token)")
@click.pass_context
def cli(ctx: click.Context, server: str, token: str | None) -> None:
    """TinyML as-a-Service over LwM2M."""
    ctx.obj = ApiClient(server, find_token(token))


@cli.command("serve")
@click.option("--coap-host", help="CoAP bind address (default ::, every address)")
@click.option("--coap-port", type=int, help="CoAP UDP port (default 5683)")
@click.option("--compile-workers", type=int, default=1, show_default=True,
              help="compile processes")
@click.option("--coaps-host", help="CoAPs (DTLS-PSK) bind address (default 127.0.0.1)")
@click.option("--coaps-port", type=int, help="CoAPs port (default 5684; -1 serves no DTLS)")
@click.option("--http-host", help="REST API bind address (default 127.0.0.1)")
@click.option("--http-port", type=int,
              help="REST API port (default 8080; 0 picks one, -1 runs none)")
@click.option("--closed-reads", is_flag=True, help="ask for the token on Leshan's read routes too")
@click.option("--leshan-open", is_flag=True, help="interop mode: Leshan's routes, writes included, "
              "answer without the token (the API must be bound to loopback)")
@click.option("--no-provisioning", is_flag=True,
              help="register and manage devices without provisioning them")
@click.option("--node-id", help="this node's name in a service of several nodes on one "
              "PostgreSQL (default <host name>:<CoAP port>)")
@storage
def serve_command(coap_host: str | None, coap_port: int | None, compile_workers: int,
                  coaps_host: str | None, coaps_port: int | None, http_host: str | None,
                  http_port: int | None, closed_reads: bool, leshan_open: bool,
                  no_provisioning: bool, node_id: str | None, db: str | None, data_dir: Path | None,
                  config_file: str | None, log_level: str) -> None:  # fmt: skip
    """Run the service: LwM2M server, compiler, provisioning, rollouts and REST API."""
    _run(lambda: serve(server_config(
        config_file, db=db, data_dir=data_dir, log_level=log_level, coap_host=coap_host,
        coap_port=coap_port, http_host=http_host, http_port=http_port, coaps_host=coaps_host,
        coaps_port=coaps_port, closed_reads=closed_reads, no_provisioning=no_provisioning,
        node_id=node_id, leshan_open=leshan_open), compile_workers))  # fmt: skip


@cli.command("sim")
@click.option("--server", default="coap://127.0.0.1:5683", show_default=True,
              help="LwM2M server URI")
@click.option("--devices", type=int, default=1, show_default=True, help="number of devices")
@click.option("--prefix", default="sim", show_default=True, help="endpoint name prefix")
@click.option("--lifetime", type=int, default=30, show_default=True,
              help="registration lifetime, seconds")
@click.option("--lwm2m", default="1.1", type=click.Choice(["1.0", "1.1"]), show_default=True)
@click.option("--queue", is_flag=True, help="queue mode (sleepy devices)")
@click.option("--form", default="senml-cbor", type=click.Choice(REGISTRATION_FORMS),
              show_default=True, help="registration payload form")
@click.option("--class", "--board", "board", multiple=True, type=click.Choice(sorted(BOARDS)),
              help="device class / board profile (repeat to mix; default all)")
@click.option("--task", multiple=True, help="task the devices ask for (repeat to mix)")
@click.option("--delivery", default="both", type=click.Choice(["push", "pull", "both"]),
              show_default=True, help="firmware delivery the devices accept (/5/0/9)")
@click.option("--fail", metavar="integrity:P", help="corrupt a fraction P of received packages")
@click.option("--until-provisioned", type=float, is_flag=False, flag_value=300.0,
              metavar="[TIMEOUT]",
              help="exit 0 once every device runs a model; 1 once each runs one or was refused "
                   "by the server (reasons shown), or after TIMEOUT s (300)")
@click.option("--trust-key", type=click.Path(dir_okay=False, path_type=Path),
              help="the service's public key (default: the data dir's)")
@click.option("--no-trust-key", is_flag=True,
              help="devices that trust no key: they register but refuse every package")
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="the server's data dir: its public key, and the API token")
@click.option("--api", metavar="URL", help="the service's REST API, asked with "
              "--until-provisioned which devices it refused and why (default: mlaas --server)")
@click.option("--duration", type=float, help="seconds to run, then de-register and exit")
@click.option("--log-level", default="WARNING", show_default=True)
@click.pass_context
def sim_command(ctx: click.Context, server: str, devices: int, prefix: str, lifetime: int,
                lwm2m: str, queue: bool, form: str, board: tuple[str, ...],
                task: tuple[str, ...], delivery: str, fail: str | None,
                until_provisioned: float | None, trust_key: Path | None, no_trust_key: bool,
                data_dir: Path | None, api: str | None, duration: float | None,
                log_level: str) -> None:  # fmt: skip
    """Run simulated LwM2M devices."""
    if trust_key is not None and no_trust_key:
        raise click.UsageError("give --trust-key or --no-trust-key, not both")
    try:
        fraction = corrupt_fraction(fail)
        key = None if no_trust_key else find_trust_key(trust_key, data_dir)
    except (ValueError, NoTrustKey) as exc:
        raise OperatorError(str(exc)) from None
    operator = ctx.find_object(ApiClient)
    client = ApiClient(api or (operator.server if operator else DEFAULT_SERVER),
                       find_token(ctx.find_root().params.get("token"), data_dir))  # fmt: skip
    options = SimOptions(
        server=server, devices=devices, prefix=prefix, boards=board, tasks=task,
        lifetime=lifetime, lwm2m_version=lwm2m, queue_mode=queue, registration_form=form,
        delivery=delivery, trust_key=key, corrupt_fraction=fraction,
        until_provisioned=until_provisioned, duration=duration, api=client)  # fmt: skip
    _logging(log_level)
    _run(lambda: sim(options))


@cli.command("demo")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="seconds to wait for the fleet")
@click.option("--coap-port", type=int, help="CoAP UDP port (default 5683)")
@click.option("--http-port", type=int, default=0, show_default=True,
              help="REST API port (0: a free one; -1 runs none)")
@storage
def demo_command(timeout: float, coap_port: int | None, http_port: int, db: str | None,
                 data_dir: Path | None, config_file: str | None,
                 log_level: str) -> None:  # fmt: skip
    """The main job: a simulated fleet provisioned end to end."""
    _run(lambda: demo(server_config(
        config_file, db=db, data_dir=data_dir, log_level=log_level, coap_host="127.0.0.1",
        coap_port=coap_port, http_port=http_port, coaps_port=0), timeout))  # fmt: skip


@cli.command("compile")
@click.argument("model")
@click.option("--class", "device_class", multiple=True, required=True,
              help="device class (repeat, or 'all')")
@click.option("--backend", help="tflm, native or a native runtime (default: the class's "
              "preferred backend, with its native runtime side by side)")
@click.option("--workers", type=int, default=1, show_default=True, help="compile processes")
@click.option("--db", help="SQLite file path or SQLAlchemy URL")
@click.option("--data-dir", type=click.Path(path_type=Path), help="the data dir to compile in")
@click.option("--json", "json_output", is_flag=True, help="machine-readable output")
def compile_cli(model: str, device_class: tuple[str, ...], backend: str | None, workers: int,
                db: str | None, data_dir: Path | None, json_output: bool) -> None:  # fmt: skip
    """Compile a zoo task, zoo model or imported model for device classes, locally. A class
    with both TFLite-Micro and a native runtime is compiled for both, side by side."""
    _run(lambda: compile_command(model, device_class, backend=backend, workers=workers, db=db,
                                 data_dir=data_dir, json_output=json_output))  # fmt: skip


@cli.group("package")
def package() -> None:
    """Model packages."""


@package.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--key", type=click.Path(path_type=Path),
              help="public key PEM (default: any key of the data dir's keyring)")
@click.option("--data-dir", type=click.Path(path_type=Path), help="whose signing key to use")
@click.option("--json", "json_output", is_flag=True, help="machine-readable output")
def package_verify_cli(file: Path, key: Path | None, data_dir: Path | None,
                       json_output: bool) -> None:  # fmt: skip
    """Exit 0 only for an intact, correctly signed package."""
    _run(lambda: package_verify(file, key=key, data_dir=data_dir, json_output=json_output))


for group in (remote.devices, remote.models, remote.classes, remote.deliveries, rollout,
              remote.security, remote.bootstrap, keys.keys,
              remote.read, remote.write, remote.execute, remote.observe):  # fmt: skip
    cli.add_command(group)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mlaas")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
