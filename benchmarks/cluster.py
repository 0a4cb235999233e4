"""Several nodes, one service (issue 17): `mlaas serve` nodes sharing one PostgreSQL.

1. Throughput. N simulated devices (registration.py's fleet and load: the demo's mix of classes,
   tasks and delivery modes, each device its own socket, provisioning on) register with 1, 2
   and 3 nodes on one PostgreSQL (a new database each time), each device straight at the node
   the hash ring gives it (the node the bootstrap server would place it on: this measures the
   registration interface, without bootstrap), then update as fast as they are answered for
   `--duration` s. Registrations/s and updates/s, each as a ratio to one node.
2. The database's writes per registration, from PostgreSQL's statistics over each of those
   registration phases: commits (pg_stat_database.xact_commit) and rows written
   (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del), divided by the registrations.
3. Failover. Three nodes with fast heartbeats; N devices get a bootstrap configuration through
   the REST API whose uris are empty (the node the endpoint belongs to; as bootstrap server, the
   node it would move to), bootstrap at the first node, register where it places them and keep
   their registrations alive with a short lifetime. Once deliveries to the first node's devices
   are in flight, that node is killed (SIGKILL). Measured from the kill: until every device it
   had has registered again on a live node, and until each of its active deliveries is driven
   again by a live node (a delivery attempt started after the kill, as the deliveries table
   shows), those it was running (past pending) apart from those still queued. Bar:
   re-registration and the running deliveries within 2 registration lifetimes (the queued ones
   start as transfer slots free).

    python benchmarks/cluster.py --devices 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiocoap
import aiohttp
import asyncpg
from postgres import PostgresServer, bindir, free_tcp_port
from registration import (
    GRACE,
    Result,
    console,
    fleet,
    free_udp_port,
    prepare,
    run_load,
    wait_until_up,
)
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.cli.client import find_token
from lwm2m_mlaas.core.cluster import HashRing
from lwm2m_mlaas.sim import SimulatedDevice

STATS_IDLE = 11.0
"""PostgreSQL publishes an idle backend's statistics within 10 s (PGSTAT_IDLE_INTERVAL), a
busy one's at most once a second (PGSTAT_MIN_INTERVAL)."""
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
"""A log record's first line (`mlaas serve` logs "<date> <time>,<ms> <LEVEL> <logger>: ...")."""
EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Violation)\b")
STOP_WAIT = 30.0
"""Seconds a node is given to stop after SIGTERM before it is killed."""
IN_FLIGHT = ("transferring", "downloaded", "updating")
ACTIVE = ("pending", *IN_FLIGHT)


# -- the nodes ----------------------------------------------------------------------------------


@dataclass
class Node:
    """One `mlaas serve` process of the service."""

    id: str
    port: int
    http_port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"coap://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def check(self) -> None:
        """RuntimeError when the process has ended."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"node {self.id} ended (exit status {code}); its log ends: "
                               f"{self.log.read_text()[-2000:]}")  # fmt: skip

    def errors(self) -> Counter[str]:
        """Its ERROR records by what they say: the exception a traceback ends with, else the
        record's message."""
        records: list[list[str]] = []
        for line in self.log.read_text().splitlines():
            if TIMESTAMP.match(line):
                records.append([line])
            elif records:
                records[-1].append(line)
        found: Counter[str] = Counter()
        for first, *rest in records:
            if " ERROR " in first:
                raised = [line for line in rest if EXCEPTION.match(line)]  # (the cause first)
                found[raised[0] if raised else first.partition(" ERROR ")[2]] += 1
        return found


@dataclass
class Cluster:
    nodes: list[Node]
    http: aiohttp.ClientSession
    """Holds the service's REST API token (the data dir's, as the `mlaas` CLI finds it)."""

    async def get(self, node: Node, path: str, **query: str) -> Any:
        try:
            async with self.http.get(node.api + path, params=query) as response:
                response.raise_for_status()
                return await response.json()
        except aiohttp.ClientConnectionError:
            node.check()
            raise


def start_node(args: argparse.Namespace, node_id: str, db: str, folder: Path,
               settings: dict[str, str]) -> Node:  # fmt: skip
    port, http_port = free_udp_port(), free_tcp_port()
    env = dict(os.environ, MLAAS_LIFETIME_GRACE=str(GRACE), MLAAS_COAPS_PORT="-1", **settings)
    command = [sys.executable, "-m", "lwm2m_mlaas.cli.main", "serve", "--coap-host",
               "127.0.0.1", "--coap-port", str(port), "--http-port", str(http_port),
               "--data-dir", str(args.data_dir), "--db", db, "--node-id", node_id,
               "--log-level", "WARNING"]  # fmt: skip
    if not args.provisioning:
        command.append("--no-provisioning")
    log = folder / f"{node_id}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    return Node(node_id, port, http_port, log, process)


async def until_live(cluster: Cluster, count: int) -> None:
    """Until every node answers on CoAP and its REST API lists `count` live nodes."""
    async with asyncio.timeout(120):
        for node in cluster.nodes:
            await wait_until_up(node.port)
            while True:
                node.check()
                with contextlib.suppress(aiohttp.ClientError):
                    if len(await cluster.get(node, "/api/mlaas/nodes")) == count:
                        break
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def service(args: argparse.Namespace, count: int, db: str, folder: Path,
                  settings: dict[str, str] | None = None) -> AsyncIterator[Cluster]:  # fmt: skip
    """`count` nodes n1, n2, ... on the database `db`: the first alone (it creates the schema),
    then the others; until each lists them all live, and PostgreSQL's statistics are quiet."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [start_node(args, "n1", db, folder, settings or {})]
    try:
        with console.status(f"starting {count} node{'s' if count > 1 else ''}"):
            await wait_until_up(nodes[0].port)  # (it has made the data dir's API token)
            token = find_token(None, args.data_dir)
            nodes += [start_node(args, f"n{n}", db, folder, settings or {})
                      for n in range(2, count + 1)]  # fmt: skip
            async with aiohttp.ClientSession(
                    headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
                cluster = Cluster(nodes, http)
                await until_live(cluster, count)
                await asyncio.sleep(STATS_IDLE)  # (what starting wrote is published)
                yield cluster
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.process.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:  # (it waits for the compiles queued, however many)
                node.process.kill()
                node.process.wait()
                console.print(f"node {node.id} had not stopped {STOP_WAIT:.0f} s after SIGTERM: "
                              "killed", style="yellow")  # fmt: skip
            errors = node.errors()
            if errors:
                kinds = "; ".join(f"{n} x {text[:300]}" for text, n in errors.most_common(3))
                console.print(f"node {node.id} logged {errors.total()} errors: {kinds}",
                              style="yellow", highlight=False, markup=False)  # fmt: skip


# -- 1 and 2: throughput, and the database's writes per registration ---------------------------


@dataclass
class Writes:
    """What PostgreSQL counted in the database over a registration phase."""

    window_s: float
    """From just before the first Register until the counts were read."""
    commits: int
    rows: int
    rows_by_table: dict[str, int]


@dataclass
class Run:
    nodes: int
    load: Result
    writes: Writes | None

    def per_registration(self, value: int) -> float:
        return value / self.load.registered if self.load.registered else float("nan")


async def database_counts(connection: asyncpg.Connection) -> tuple[int, dict[str, int]]:
    rows = await connection.fetch(
        "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())"
        " AS commits, relname, n_tup_ins + n_tup_upd + n_tup_del AS written"
        " FROM pg_stat_user_tables")  # fmt: skip
    return int(rows[0]["commits"]), {r["relname"]: int(r["written"]) for r in rows}


@contextlib.asynccontextmanager
async def counting(dsn: str, into: list[Writes]) -> AsyncIterator[None]:
    """PostgreSQL's commits and rows written from entering until STATS_IDLE s after leaving
    (the nodes' backends publish their counts late, idle ones up to 10 s), appended to
    `into`. (The devices' own keep-alive Updates start lifetime - 6 s after they registered.)"""
    connection = await asyncpg.connect(dsn)
    try:
        began = time.perf_counter()
        commits, tables = await database_counts(connection)
        yield
        await asyncio.sleep(STATS_IDLE)
        commits_after, tables_after = await database_counts(connection)
        window = time.perf_counter() - began
    finally:
        await connection.close()
    written = {t: n - tables.get(t, 0) for t, n in tables_after.items() if n - tables.get(t, 0)}
    into.append(Writes(window, commits_after - commits - 1,  # (the first read's own commit)
                       sum(written.values()), dict(sorted(written.items()))))  # fmt: skip


async def throughput(args: argparse.Namespace, postgres: PostgresServer, count: int,
                     folder: Path) -> Run:  # fmt: skip
    db = postgres.create_database("cluster")
    async with service(args, count, db, folder / f"{count}-nodes") as cluster:
        ring = HashRing(n.id for n in cluster.nodes)
        uri = {n.id: n.uri for n in cluster.nodes}
        devices = fleet(args, lambda endpoint: uri[ring.owner(endpoint)], args.trust_key)
        writes: list[Writes] = []
        phase = counting(db.replace("+asyncpg", ""), writes)
        # (the load process waits for no provisioning to finish: settle 0, soak 0)
        load_args = argparse.Namespace(**{**vars(args), "settle": 0.0, "soak": 0.0})
        name = f"{count} node{'s' if count > 1 else ''}"
        result = await run_load(name, devices, [n.process.pid for n in cluster.nodes],
                                load_args, provisioning=args.provisioning, keep_alive=True,
                                registration_phase=phase)  # fmt: skip
    return Run(count, result, writes[0] if writes else None)


# -- 3: failover --------------------------------------------------------------------------------


@dataclass
class Failover:
    killed: str
    """The node killed: the one every device first bootstrapped at."""
    lifetime: int
    heartbeat_s: float
    node_timeout_s: float
    devices: int
    started: int
    """Devices that bootstrapped and registered before the kill."""
    on_killed_node: int
    in_flight_at_kill: dict[str, int]
    """Active deliveries to the killed node's devices when it was killed, by state."""
    kill_after_s: float
    """From the last device registered until the kill (waiting for deliveries in flight)."""
    noticed_median_s: float | None
    noticed_last_s: float | None
    """From the kill until its devices began to bootstrap (their node found gone): the
    client's part, a lifetime's Update and two timeouts at most."""
    reregistered: int
    """Devices of the killed node registered again on a live node."""
    reregistered_median_s: float | None
    reregistered_last_s: float | None
    """From the kill until the last of them had (None: not every one did)."""
    found_on_ring_node: int
    """Of them, found registered (GET /api/clients) on the live node the ring gives them, """
    found_on_other_node: int
    """on the other live node only, """
    found_on_no_node: int
    """on neither."""
    resumed: int
    """Deliveries active at the kill driven again (an attempt started) by a live node."""
    resumed_median_s: float | None
    resumed_last_s: float | None
    running: int
    """Of those, the ones past pending at the kill (transferring, downloaded, updating): the
    deliveries the killed node was running, not its queue."""
    running_resumed: int
    running_resumed_median_s: float | None
    running_resumed_last_s: float | None
    succeeded: int
    succeeded_last_s: float | None
    waited_s: float

    @property
    def bar_s(self) -> float:
        return 2.0 * self.lifetime

    @property
    def in_flight(self) -> int:
        return sum(self.in_flight_at_kill.values())

    def passes(self) -> tuple[bool, bool | None]:
        """Re-registration, and the deliveries the killed node was running (None: none),
        within the bar."""
        moved = self.reregistered_last_s is not None and self.reregistered_last_s <= self.bar_s
        if not self.running:
            return moved, None
        last = self.running_resumed_last_s
        return moved, last is not None and self.running_resumed == self.running and \
            last <= self.bar_s


def placing_config(lifetime: int) -> dict[str, Any]:
    """The bootstrap configuration `mlaas bootstrap add EP --nosec --lifetime L` puts: NoSec
    accounts whose uris are empty, standing for the node the endpoint would move to were its
    own gone (the bootstrap server) and for the node it belongs to."""
    return {
        "toDelete": ["/0", "/1"],
        "security": {
            "0": {"uri": "", "bootstrapServer": True, "securityMode": "NO_SEC",
                  "publicKeyOrId": [], "secretKey": []},
            "1": {"uri": "", "bootstrapServer": False, "securityMode": "NO_SEC",
                  "publicKeyOrId": [], "secretKey": [], "serverId": 1},
        },
        "servers": {"0": {"shortId": 1, "lifetime": lifetime, "binding": "U"}},
    }  # fmt: skip


def median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


@dataclass
class DeliveryWatch:
    """The deliveries to the killed node's devices that were active at the kill, followed
    in the database until a live node drives each again and it finishes."""

    at_kill: dict[str, list[dict[str, Any]]]
    """Every delivery of each endpoint with an active one, as it was at the kill."""
    resumed: dict[str, float] = field(default_factory=dict)
    succeeded: dict[str, float] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def driven(self, endpoint: str, rows: list[dict[str, Any]]) -> bool:
        """An attempt started after the kill: on a delivery that was there, or a new one."""
        before = {d["id"]: d["attempts"] for d in self.at_kill[endpoint]}
        return any(r["attempts"] > before.get(r["id"], 0) for r in rows)

    async def poll(self, database: asyncpg.Connection, elapsed: float) -> None:
        """Read the deliveries of the endpoints still followed straight from PostgreSQL (a
        small query, where the REST API would load the bootstrap node)."""
        following = [e for e in self.at_kill if e not in self.finished]
        found: dict[str, list[dict[str, Any]]] = {e: [] for e in following}
        for row in await database.fetch("SELECT id, endpoint, state, attempts FROM deliveries "
                                        "WHERE endpoint = ANY($1::text[])", following):
            found[row["endpoint"]].append(dict(row))
        for endpoint, rows in found.items():
            before = self.at_kill[endpoint]
            if endpoint not in self.resumed and self.driven(endpoint, rows):
                self.resumed[endpoint] = elapsed
            was = {d["id"]: d["state"] for d in before}
            if any(r["state"] == "succeeded" != was.get(r["id"]) for r in rows):
                self.succeeded.setdefault(endpoint, elapsed)
            if not any(r["state"] in ACTIVE for r in rows):
                self.finished.add(endpoint)


async def put_bootstrap_configs(cluster: Cluster, node: Node, endpoints: list[str],
                                lifetime: int, progress: Progress) -> None:  # fmt: skip
    putting = progress.add_task("bootstrap configurations (REST)", total=len(endpoints))
    gate = asyncio.Semaphore(16)
    body = placing_config(lifetime)

    async def put(endpoint: str) -> None:
        async with gate, cluster.http.post(f"{node.api}/api/bootstrap/{endpoint}",
                                           json=body) as response:  # fmt: skip
            response.raise_for_status()
        progress.advance(putting)

    await asyncio.gather(*(put(e) for e in endpoints))


async def failover(args: argparse.Namespace, postgres: PostgresServer, folder: Path) -> Failover:
    db = postgres.create_database("failover")
    settings = {"MLAAS_NODE_HEARTBEAT": str(args.heartbeat),
                "MLAAS_NODE_TIMEOUT": str(args.node_timeout)}  # fmt: skip
    lifetime = args.failover_lifetime
    async with service(args, 3, db, folder / "failover", settings) as cluster, \
            contextlib.AsyncExitStack() as stack:  # fmt: skip
        database = await asyncpg.connect(db.replace("+asyncpg", ""))
        stack.push_async_callback(database.close)
        # the node every device first bootstraps at is the one killed; another answers REST
        bootstrap_node = killed = cluster.nodes[0]
        asked = cluster.nodes[1]
        fleet_args = argparse.Namespace(**{**vars(args), "lifetime": lifetime})
        devices = fleet(fleet_args, lambda _endpoint: bootstrap_node.uri, args.trust_key,
                        bootstrap=True, server_timeout=args.device_timeout)  # fmt: skip
        gate = asyncio.Semaphore(args.concurrency)
        with Progress(TextColumn("failover: {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
            await put_bootstrap_configs(cluster, bootstrap_node,
                                        [d.config.endpoint for d in devices], lifetime, progress)
            starting = progress.add_task("bootstrap and register", total=len(devices))

            async def start(device: SimulatedDevice) -> None:
                async with gate:
                    with contextlib.suppress(TimeoutError, RuntimeError, OSError,
                                             aiocoap.error.Error):
                        await device.start(register_timeout=60)
                progress.advance(starting)

            await asyncio.gather(*(start(d) for d in devices))
            started = [d for d in devices if d.location is not None]
            victims = [d for d in started if d.account and d.account.uri == killed.uri]
            endpoints = {d.config.endpoint for d in victims}

            # until deliveries to the doomed node's devices are in flight
            registered_at = time.perf_counter()
            target = min(args.in_flight, len(victims)) if args.provisioning else 0
            waiting = progress.add_task(f"deliveries in flight to {killed.id}'s devices",
                                        total=target)  # fmt: skip
            while time.perf_counter() - registered_at < args.kill_after:
                active = await cluster.get(asked, "/api/mlaas/deliveries",
                                           active="true")  # fmt: skip
                moving = sum(r["endpoint"] in endpoints and r["state"] in IN_FLIGHT
                             for r in active)  # fmt: skip
                progress.update(waiting, completed=min(moving, target))
                if moving >= target:
                    break
                await asyncio.sleep(0.5)
            kill_after = time.perf_counter() - registered_at

            for device in victims:  # (set again by a Register answered from now on)
                device.registered.clear()
            killed.process.send_signal(signal.SIGKILL)
            killed.process.wait()
            killed_at = time.perf_counter()
            # (the killed node writes nothing more: what the database holds now is the kill's)
            rows = await cluster.get(asked, "/api/mlaas/deliveries")
            by_endpoint: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                if row["endpoint"] in endpoints:
                    by_endpoint.setdefault(row["endpoint"], []).append(row)
            at_kill = {e: r for e, r in by_endpoint.items() if any(d["state"] in ACTIVE
                                                                   for d in r)}  # fmt: skip
            states: dict[str, int] = {}
            for row in (d for r in at_kill.values() for d in r if d["state"] in ACTIVE):
                states[row["state"]] = states.get(row["state"], 0) + 1
            watch = DeliveryWatch(at_kill)

            moving_task = progress.add_task(f"{killed.id} killed: its devices registered "
                                            "again", total=len(victims))  # fmt: skip
            resuming = progress.add_task("its deliveries driven again", total=len(at_kill))
            moved: dict[str, float] = {}
            noticed: dict[str, float] = {}
            last_poll = 0.0
            while (elapsed := time.perf_counter() - killed_at) < args.failover_wait:
                for device in victims:
                    account = device.account
                    if device.config.endpoint not in noticed and account is not None and \
                            account.uri != killed.uri:  # (bootstrapping, or past it)
                        noticed[device.config.endpoint] = elapsed
                    if device.config.endpoint not in moved and device.registered.is_set() \
                            and account is not None and account.uri != killed.uri:  # fmt: skip
                        moved[device.config.endpoint] = elapsed
                if elapsed - last_poll >= 1.0:
                    last_poll = elapsed
                    await watch.poll(database, elapsed)
                progress.update(moving_task, completed=len(moved))
                progress.update(resuming, completed=len(watch.resumed))
                if len(moved) == len(victims) and watch.finished >= set(at_kill):
                    break
                await asyncio.sleep(0.25)
            waited = time.perf_counter() - killed_at

        running = {e for e, r in at_kill.items() if any(d["state"] in IN_FLIGHT for d in r)}
        running_resumed = [watch.resumed[e] for e in running if e in watch.resumed]
        # where the moved devices are registered, as the live nodes' REST APIs say
        live = [n for n in cluster.nodes if n is not killed]
        ring = HashRing(n.id for n in live)
        where: dict[str, set[str]] = {}
        for node in live:
            for row in await cluster.get(node, "/api/clients"):
                where.setdefault(row["endpoint"], set()).add(node.id)
        placed = {"ring": 0, "other": 0, "none": 0}
        for endpoint in moved:
            nodes = where.get(endpoint, set())
            placed["ring" if ring.owner(endpoint) in nodes else "other" if nodes else "none"] += 1
        for device in devices:
            await device.stop(deregister=False)

    return Failover(
        killed=killed.id, lifetime=lifetime, heartbeat_s=args.heartbeat,
        node_timeout_s=args.node_timeout,
        devices=len(devices), started=len(started), on_killed_node=len(victims),
        in_flight_at_kill=states, kill_after_s=kill_after,
        noticed_median_s=median(noticed.values()), noticed_last_s=max(noticed.values(),
                                                                      default=None),
        reregistered=len(moved),
        reregistered_median_s=median(moved.values()),
        reregistered_last_s=max(moved.values()) if len(moved) == len(victims) else None,
        found_on_ring_node=placed["ring"], found_on_other_node=placed["other"],
        found_on_no_node=placed["none"], resumed=len(watch.resumed),
        resumed_median_s=median(watch.resumed.values()),
        resumed_last_s=max(watch.resumed.values(), default=None)
        if len(watch.resumed) == len(at_kill) else None,
        running=len(running), running_resumed=len(running_resumed),
        running_resumed_median_s=median(running_resumed),
        running_resumed_last_s=max(running_resumed, default=None)
        if len(running_resumed) == len(running) else None,
        succeeded=len(watch.succeeded),
        succeeded_last_s=max(watch.succeeded.values(), default=None)
        if len(watch.succeeded) == len(at_kill) else None,
        waited_s=waited,
    )  # fmt: skip


# -- the run ------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> tuple[list[Run], Failover | None]:
    runs: list[Run] = []
    outcome: Failover | None = None
    with tempfile.TemporaryDirectory() as scratch, \
            PostgresServer.temporary(fsync=args.fsync) as postgres:  # fmt: skip
        logs = args.logs or Path(scratch)
        for count in args.nodes:
            runs.append(await throughput(args, postgres, count, logs))
        if args.failover:
            outcome = await failover(args, postgres, logs)
    return runs, outcome


def seconds(value: float | None, never: str = "not all") -> str:
    return never if value is None else f"{value:.1f} s"


def report(runs: list[Run], outcome: Failover | None, args: argparse.Namespace) -> None:
    out = Console()
    if runs:
        table = Table(title=f"{args.devices:,} devices on 1-{max(args.nodes)} nodes sharing one "
                            f"PostgreSQL: registration interface (devices straight at their "
                            f"ring node), provisioning {'on' if args.provisioning else 'off'}, "
                            f"lifetime {args.lifetime} s")  # fmt: skip
        table.add_column("")
        for run in runs:
            table.add_column(run.load.server, justify="right")
        one = next((r for r in runs if r.nodes == 1), None)

        def ratio(value: float, reference: float | None) -> str:
            return f" ({value / reference:.2f})" if reference else ""

        def writes(cell: Callable[[Run, Writes], str]) -> Callable[[Run], str]:
            return lambda r: "-" if r.writes is None else cell(r, r.writes)

        rows: list[tuple[str, Callable[[Run], str]]] = [
            ("devices registered", lambda r: f"{r.load.registered:,}/{r.load.devices:,}"),
            ("registrations/s (x one node)", lambda r: f"{r.load.registrations_per_s:,.0f}"
             + ratio(r.load.registrations_per_s, one.load.registrations_per_s if one else None)),
            ("register p50 / p99", lambda r: f"{r.load.register_p50_ms:.1f} / "
                                             f"{r.load.register_p99_ms:.1f} ms"),
            ("updates/s (x one node)", lambda r: f"{r.load.updates_per_s:,.0f}"
             + ratio(r.load.updates_per_s, one.load.updates_per_s if one else None)),
            ("update p50 / p99", lambda r: f"{r.load.update_p50_ms:.1f} / "
                                           f"{r.load.update_p99_ms:.1f} ms"),
            ("update answers", lambda r: r.load.update_answers),
            ("devices expired", lambda r: str(r.load.expired)),
            ("DB commits per registration", writes(
                lambda r, w: f"{r.per_registration(w.commits):.2f}")),
            ("DB rows written per registration", writes(
                lambda r, w: f"{r.per_registration(w.rows):.2f}")),
            ("  counted over", writes(lambda _r, w: f"{w.window_s:.1f} s")),
            ("nodes' CPU time (sum)", lambda r: f"{r.load.cpu_s:.1f} s"),
            ("nodes' peak RSS (sum)", lambda r: f"{r.load.peak_rss_mb:.0f} MB"),
        ]  # fmt: skip
        for label, cell in rows:
            table.add_row(label, *(cell(r) for r in runs))
        out.print(table)
        for run in runs:
            if run.writes is not None:
                print(f"Rows written per registration by table, {run.load.server}: " + ", ".join(
                    f"{t} {run.per_registration(n):.2f}"
                    for t, n in sorted(run.writes.rows_by_table.items(), key=lambda i: -i[1])))
        print("Database writes: PostgreSQL's pg_stat_database.xact_commit and pg_stat_user_tables "
              "n_tup_ins + n_tup_upd + n_tup_del, from just before the first Register until "
              f"{STATS_IDLE:.0f} s after the last (PostgreSQL publishes an idle backend's counts "
              "up to 10 s late), divided by the registrations. They include everything the "
              "nodes wrote in that time: heartbeats" + (", provisioning's records (the tables "
              "other than registrations and nodes)" if args.provisioning else "")
              + " and any keep-alive Update.")  # fmt: skip
    if outcome is not None:
        moved_ok, resumed_ok = outcome.passes()

        def verdict(ok: bool | None) -> str:
            return "-" if ok is None else "[green]pass[/]" if ok else "[red]FAIL[/]"

        table = Table(title=f"Failover: 3 nodes, {outcome.killed} (where the devices first "
                            f"bootstrapped) killed (SIGKILL); lifetime "
                            f"{outcome.lifetime} s, bar 2 lifetimes = {outcome.bar_s:.0f} s")
        table.add_column("")
        table.add_column("from the kill", justify="right")
        table.add_column(f"within {outcome.bar_s:.0f} s", justify="center")
        in_flight = ", ".join(f"{n} {s}" for s, n in sorted(outcome.in_flight_at_kill.items()))
        for label, value, ok in (
            ("node heartbeat / timeout", f"{outcome.heartbeat_s:g} s / "
                                         f"{outcome.node_timeout_s:g} s", None),
            ("devices bootstrapped and registered", f"{outcome.started:,}/{outcome.devices:,}",
             None),
            ("on the killed node", f"{outcome.on_killed_node:,}", None),
            ("began to bootstrap (node found gone): median / last after",
             f"{seconds(outcome.noticed_median_s, '-')} / {seconds(outcome.noticed_last_s)}",
             None),
            ("registered again on a live node",
             f"{outcome.reregistered:,}/{outcome.on_killed_node:,}", None),
            ("  median / last after", f"{seconds(outcome.reregistered_median_s, '-')} / "
                                      f"{seconds(outcome.reregistered_last_s)}", moved_ok),
            ("  listed by the ring's node / the other / none",
             f"{outcome.found_on_ring_node:,} / {outcome.found_on_other_node:,} / "
             f"{outcome.found_on_no_node:,}", None),
            ("its deliveries active at the kill", f"{outcome.in_flight:,}"
             + (f" ({in_flight})" if in_flight else "")
             + f", {outcome.kill_after_s:.0f} s after the last registration", None),
            ("  driven again by a live node", f"{outcome.resumed:,}/{outcome.in_flight:,}",
             None),
            ("  median / last after", f"{seconds(outcome.resumed_median_s, '-')} / "
                                      f"{seconds(outcome.resumed_last_s)}", None),
            ("  of those it was running (past pending)",
             f"{outcome.running_resumed:,}/{outcome.running:,}", None),
            ("    median / last after", f"{seconds(outcome.running_resumed_median_s, '-')} / "
                                        f"{seconds(outcome.running_resumed_last_s)}",
             resumed_ok),
            ("  succeeded since / last after", f"{outcome.succeeded:,} / "
                                               f"{seconds(outcome.succeeded_last_s)}", None),
            ("watched for", f"{outcome.waited_s:.0f} s", None),
        ):  # fmt: skip
            table.add_row(label, value, verdict(ok))
        out.print(table)
        if args.provisioning and not outcome.in_flight:
            out.print("[red]No delivery to the killed node's devices was active when it was "
                      "killed: whether deliveries resume was not measured (see the nodes' "
                      "errors).[/]")  # fmt: skip
        if outcome.in_flight and outcome.resumed < outcome.in_flight:
            out.print(f"[red]{outcome.in_flight - outcome.resumed} of the killed node's "
                      f"{outcome.in_flight} deliveries in flight were not driven again within "
                      f"{outcome.waited_s:.0f} s of the kill.[/]")  # fmt: skip
        print("The devices bootstrap first at n1 from configurations put through its REST API, "
              "which place each on the node the hash ring gives it and name the node it moves "
              "to (its ring successor) as its bootstrap server. A device notices "
              f"its node is gone when its Update (every {outcome.lifetime} - 6 s) gets no "
              f"answer within the simulated client's timeout ({args.device_timeout:g} s); it "
              "tries a Register with the same node, then bootstraps at its successor.")  # fmt: skip
    print("Sharing the two cores: the nodes (`mlaas serve` processes, each with its compile "
          f"worker), PostgreSQL {bindir().parent.name} (fsync {'on' if args.fsync else 'off'}), "
          "and this load process with every simulated device and its TFLite-Micro workers.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--nodes", type=lambda text: [int(n) for n in text.split(",") if n],
                        default=[1, 2, 3],
                        help="node counts of the throughput runs, in order ('' for none)")
    parser.add_argument("--duration", type=float, default=20.0, help="update phase, seconds")
    parser.add_argument("--lifetime", type=int, default=30, help="throughput runs' lifetime")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--provisioning", action=argparse.BooleanOptionalAction, default=True,
                        help="the nodes provision the devices (--no-provisioning: they do not)")
    parser.add_argument("--failover", action=argparse.BooleanOptionalAction, default=True,
                        help="run the failover measurement")
    parser.add_argument("--failover-lifetime", type=int, default=20)
    parser.add_argument("--device-timeout", type=float, default=5.0,
                        help="how long a device waits for an Update or Register before the "
                             "next step (register again, then bootstrap)")
    parser.add_argument("--heartbeat", type=float, default=0.5,
                        help="the failover nodes' MLAAS_NODE_HEARTBEAT, seconds")
    parser.add_argument("--node-timeout", type=float, default=2.0,
                        help="the failover nodes' MLAAS_NODE_TIMEOUT, seconds")
    parser.add_argument("--in-flight", type=int, default=20,
                        help="deliveries in flight to the node's devices before it is killed")
    parser.add_argument("--kill-after", type=float, default=120.0,
                        help="kill the node this long after the last registration at the "
                             "latest, deliveries in flight or not")
    parser.add_argument("--failover-wait", type=float, default=180.0,
                        help="seconds to watch after the kill")
    parser.add_argument("--fsync", action=argparse.BooleanOptionalAction, default=True,
                        help="PostgreSQL's commits wait for the disk, as in production")
    parser.add_argument("--data-dir", type=Path,
                        default=Path.home() / ".cache" / "lwm2m-mlaas" / "bench",
                        help="the nodes' shared data dir: zoo, keys and compiled measurements "
                             "are kept between runs; each run gets a new database")
    parser.add_argument("--logs", type=Path,
                        help="keep the nodes' logs in this folder (<run>/<node>.log)")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    arguments = parser.parse_args()
    prepare(parser, arguments)
    results, failed_over = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps({"runs": [asdict(r) for r in results],
                          "failover": failed_over and asdict(failed_over)}, indent=2))
    else:
        report(results, failed_over, arguments)
