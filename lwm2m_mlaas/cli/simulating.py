"""`mlaas sim`: a fleet of simulated devices in this process, registered to a server until a
signal, --duration, or (--until-provisioned) until every device runs a model or was refused.

Whether the server refused a device, and why (no model fits its class, an unknown task, a
package it would not take...), is known to the server only: the sim asks the service's REST API
(/api/mlaas/devices, stage failed) while it waits."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ..config import ServerConfig
from ..sim.fleet import Fleet, fleet_configs, provisioned
from .client import ApiClient, ApiFailure
from .output import progress_bars

console = Console()

API_INTERVAL = 2.0
"""Seconds between two questions to the REST API while --until-provisioned waits."""


class NoTrustKey(Exception):
    """`mlaas sim` has no key to verify packages with: one line saying where it looked."""


@dataclass(frozen=True)
class SimOptions:
    """What `mlaas sim` runs: the flags, checked and resolved."""

    server: str = "coap://127.0.0.1:5683"
    """LwM2M server URI."""
    devices: int = 1
    prefix: str = "sim"
    boards: tuple[str, ...] = ()
    """Device classes to cycle through (none: every simulated board)."""
    tasks: tuple[str, ...] = ()
    lifetime: int = 30
    lwm2m_version: str = "1.1"
    queue_mode: bool = False
    registration_form: str = "senml-cbor"
    delivery: str = "both"
    trust_key: bytes | None = None
    """The service's public signing key (PEM); None: devices that refuse every package."""
    corrupt_fraction: float = 0.0
    until_provisioned: float | None = None
    """Seconds to wait for every device to run a model or be refused; None: no waiting."""
    duration: float | None = None
    """Seconds to run; None: until a signal."""
    api: ApiClient | None = None
    """The service's REST API, asked which devices it refused and why."""


def stop_signal() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM from now on (so one that comes while a service is
    still starting stops it cleanly once started)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def until_signal() -> None:
    """Return on SIGINT or SIGTERM."""
    await stop_signal().wait()


def find_trust_key(given: Path | None, data_dir: Path | None) -> bytes:
    """The --trust-key file, else the data dir's public signing key; NoTrustKey says where it
    looked and how to fix it."""
    from ..compiler.service import Layout
    from ..compiler.signing import PUBLIC_KEY_FILE, load_public_key

    anyway = "--no-trust-key runs devices that refuse every package"
    if given is not None:
        path, fix = given, f"give the server's public key, <its data dir>/keys/{PUBLIC_KEY_FILE}"
    else:
        path = Layout(ServerConfig.load(data_dir=data_dir).data_dir).keys / PUBLIC_KEY_FILE
        fix = (
            f"give the --data-dir `mlaas serve` runs with, or --trust-key PEM ({anyway})"
            if data_dir is None
            else f"is it the data dir `mlaas serve` runs with? else give --trust-key PEM ({anyway})"
        )
    try:
        key = path.read_bytes()
        load_public_key(key)
    except OSError as exc:
        raise NoTrustKey(
            f"no trust key: cannot read {path} ({exc.strerror or exc}); {fix}"
        ) from None
    except ValueError:
        raise NoTrustKey(f"no trust key: {path} is no Ed25519 public key PEM; {fix}") from None
    return key


def corrupt_fraction(text: str | None) -> float:
    """--fail integrity:P -> P (ValueError for anything else)."""
    if not text:
        return 0.0
    kind, _, value = text.partition(":")
    try:
        fraction = float(value) if kind == "integrity" else -1.0
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"--fail takes integrity:P with P from 0 to 1, not {text!r}")
    return fraction


async def sim(options: SimOptions) -> int:
    """Register the fleet, run it, de-register it; 1 if a device failed to register or (with
    until_provisioned) does not run a model."""
    configs = fleet_configs(
        options.server,
        options.devices,
        prefix=options.prefix,
        boards=options.boards,
        tasks=options.tasks,
        lifetime=options.lifetime,
        lwm2m_version=options.lwm2m_version,
        queue_mode=options.queue_mode,
        registration_form=options.registration_form,
        delivery=options.delivery,
        trust_key=options.trust_key,
        corrupt_fraction=options.corrupt_fraction,
    )
    fleet = Fleet(configs)
    with progress_bars(console) as progress:
        task = progress.add_task("registering", total=len(configs))
        failed = await fleet.start(progress=lambda _d: progress.advance(task))
    console.print(
        f"{len(configs) - len(failed)} of {len(configs)} devices registered"
        + (f"; failed: {', '.join(failed[:10])}" if failed else "")
    )
    outcome = 1 if failed else 0
    try:
        if options.until_provisioned is not None:
            waited = await until_provisioned(fleet, options.until_provisioned, options.api,
                                             options.prefix)  # fmt: skip
            outcome = max(outcome, waited)
        elif options.duration:
            await asyncio.wait_for(until_signal(), options.duration)
        else:
            await until_signal()
    except TimeoutError:
        pass
    await fleet.stop()
    return outcome


@dataclass(frozen=True)
class Refusal:
    endpoint: str
    device_class: str | None
    reason: str


class Refusals:
    """The fleet's devices the server refused, as its REST API tells (no API: none known)."""

    def __init__(self, api: ApiClient | None, prefix: str, endpoints: set[str]) -> None:
        self.api = None if api is None else replace(api, timeout=10.0)
        self.prefix = prefix
        self.endpoints = endpoints
        self.found: dict[str, Refusal] = {}
        self._next = 0.0

    async def update(self) -> None:
        """Ask the API again (at most every API_INTERVAL s); when it cannot answer, say so once
        and ask no more."""
        if self.api is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + API_INTERVAL
        try:
            failed = await asyncio.to_thread(
                self.api.get, "/api/mlaas/devices", endpoint=f"{self.prefix}-*", stage="failed"
            )
        except ApiFailure as exc:
            console.print(
                f"[yellow]not asking the REST API which devices it refused ({exc}); "
                "give --api URL and --token, or the server's --data-dir[/]"
            )
            self.api = None
            return
        self.found = {
            d["endpoint"]: Refusal(d["endpoint"], d.get("class"),
                                   str(d["provisioning"].get("reason") or "no reason given"))
            for d in failed if d["endpoint"] in self.endpoints
        }  # fmt: skip


async def until_provisioned(fleet: Fleet, timeout: float, api: ApiClient | None = None,
                            prefix: str = "sim") -> int:  # fmt: skip
    """0 once every device runs a model; 1 once every device runs a model or was refused by
    the server (with its reasons), or when `timeout` seconds pass first."""
    endpoints = {d.config.endpoint for d in fleet.devices}
    refusals = Refusals(api, prefix, endpoints)
    running: set[str] = set()
    refused: dict[str, Refusal] = {}
    with progress_bars(console) as progress:
        bar = progress.add_task("provisioned", total=len(endpoints))
        refused_bar: TaskID | None = None
        deadline = time.monotonic() + timeout
        while True:
            running = {d.config.endpoint for d in fleet.devices if provisioned(d)}
            if len(running) < len(endpoints):
                await refusals.update()
            refused = {e: r for e, r in refusals.found.items() if e not in running}
            progress.update(bar, completed=len(running))
            if refused:
                refused_bar = _refused_bar(progress, refused_bar, len(endpoints), len(refused))
            if len(running) + len(refused) == len(endpoints) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
    if refused:
        table = Table(title=f"{len(refused)} device(s) refused by the server")
        for column in ("device", "class", "reason"):
            table.add_column(column, overflow="fold")
        for found in sorted(refused.values(), key=lambda r: r.endpoint):
            table.add_row(found.endpoint, found.device_class or "-", found.reason)
        console.print(table)
        console.print(f"[red]{len(refused)} device(s) not running a model: the server refused "
                      "them[/]")  # fmt: skip
    missing = sorted(endpoints - running - refused.keys())
    if missing:
        console.print(f"[red]{len(missing)} device(s) not running a model after {timeout:.0f} s: "
                      f"{', '.join(missing[:10])}[/]")  # fmt: skip
    return 1 if refused or missing else 0


def _refused_bar(progress: Progress, bar: TaskID | None, total: int, count: int) -> TaskID:
    if bar is None:
        bar = progress.add_task("refused", total=total)
    progress.update(bar, completed=count)
    return bar
