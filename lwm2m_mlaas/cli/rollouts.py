"""`mlaas rollout`: staged fleet rollouts through the REST API, with live progress per wave."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .remote import as_json, client, emit, table_of

console = Console()
SETTLED = ("completed", "paused", "aborted", "rolled_back")
FINISHED = ("succeeded", "failed", "skipped", "rolled_back")


@click.group()
def rollout() -> None:
    """Staged rollouts: create, list, status [--watch], pause, resume, abort, rollback."""


@rollout.command("create")
@click.argument("target")
@click.option("--class", "device_class", help="select devices of this class")
@click.option("--tag", help="select devices with this tag")
@click.option("--task", help="select devices asking for this task")
@click.option("--endpoint", help="select endpoints matching this glob")
@click.option("--name", help="a name for the rollout (default: the target)")
@click.option("--canary", type=click.IntRange(0), default=1, show_default=True,
              help="devices in the first wave")
@click.option("--waves", default="100", show_default=True,
              help="cumulative percentages of the rest, e.g. 25,50,100")
@click.option("--max-concurrent", type=click.IntRange(1), default=10, show_default=True,
              help="deliveries in flight at once")
@click.option("--failure-threshold", type=click.FloatRange(0, 1, max_open=True), default=0.1,
              show_default=True, help="share of finished devices that may fail before it pauses")
@as_json
@click.pass_context
def create(ctx: click.Context, target: str, device_class: str | None, tag: str | None,
           task: str | None, endpoint: str | None, name: str | None, canary: int, waves: str,
           max_concurrent: int, failure_threshold: float, json_output: bool) -> None:  # fmt: skip
    """Roll TARGET (a zoo task or a model name) out to the selected devices."""
    try:
        percents = [float(p) for p in waves.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{waves!r} is not a list of percentages",
                                 param_hint="--waves") from None
    selector = {k: v for k, v in (("class", device_class), ("tag", tag), ("task", task),
                                  ("endpoint", endpoint)) if v}  # fmt: skip
    body = {"target": target, "selector": selector, "canary": canary, "waves": percents,
            "max_concurrent": max_concurrent, "failure_threshold": failure_threshold,
            **({"name": name} if name else {})}  # fmt: skip
    created = client(ctx).call("POST", "/api/mlaas/rollouts", body=body)
    if json_output:
        click.echo(json.dumps(created, indent=2))
    else:
        sizes = ", ".join(str(w["planned"]) for w in created["waves"])
        click.echo(f"rollout {created['id']} of {target}: {created['devices']} devices, "
                   f"waves of {sizes}")  # fmt: skip


@rollout.command("list")
@click.option("--state", help="only rollouts in this state")
@as_json
@click.pass_context
def list_rollouts(ctx: click.Context, state: str | None, json_output: bool) -> None:
    """Every rollout with its counts."""
    found = client(ctx).get("/api/mlaas/rollouts", state=state)
    emit(found, json_output, lambda rows: table_of(
        f"{len(rows)} rollouts", ("id", "name", "target", "state", "devices", "succeeded",
                                  "failed", "skipped", "reason"),
        [(r["id"], r["name"], r["target"], r["state"], r["devices"],
          r["counts"].get("succeeded", 0), r["counts"].get("failed", 0),
          r["counts"].get("skipped", 0), r["reason"]) for r in rows]))


def _status_table(r: dict[str, Any]) -> Table:
    table = table_of(f"rollout {r['id']} ({r['target']}): {r['state']}"
                     + (f", {r['reason']}" if r["reason"] else ""),
                     ("endpoint", "wave", "state", "class", "reason"),
                     [(m["endpoint"], m["wave"], m["state"], m["class"], m["reason"])
                      for m in r.get("members", [])])  # fmt: skip
    return table


@rollout.command("status")
@click.argument("rollout_id", type=int)
@click.option("--watch", is_flag=True, help="live progress bars per wave until it settles")
@click.option("--interval", type=float, default=0.5, show_default=True,
              help="seconds between refreshes with --watch")
@as_json
@click.pass_context
def status(ctx: click.Context, rollout_id: int, watch: bool, interval: float,
           json_output: bool) -> None:  # fmt: skip
    """A rollout's state and every device's; --watch follows it until it settles."""
    api = client(ctx)
    found = api.get(f"/api/mlaas/rollouts/{rollout_id}")
    if watch and not json_output:
        found = _watch(api, rollout_id, found, interval)
    elif watch:
        while found["state"] not in SETTLED:
            time.sleep(interval)
            found = api.get(f"/api/mlaas/rollouts/{rollout_id}")
    emit(found, json_output, _status_table)
    if watch and found["state"] in ("paused", "aborted"):
        ctx.exit(1)


def _watch(api: Any, rollout_id: int, found: dict[str, Any], interval: float) -> Any:
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[detail]}"), console=console)  # fmt: skip
    bars = [progress.add_task(f"wave {w['wave']}", total=max(1, sum(w["counts"].values())),
                              detail="") for w in found["waves"]]  # fmt: skip
    with Live(progress, console=console, refresh_per_second=8):
        while True:
            for bar, wave in zip(bars, found["waves"], strict=False):
                counts = wave["counts"]
                done = sum(counts.get(s, 0) for s in FINISHED)
                detail = " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                progress.update(bar, completed=done, total=max(1, sum(counts.values())),
                                detail=detail)  # fmt: skip
            if found["state"] in SETTLED:
                return found
            time.sleep(interval)
            found = api.get(f"/api/mlaas/rollouts/{rollout_id}")


def _action(name: str, help_text: str) -> None:
    @rollout.command(name, help=help_text)
    @click.argument("rollout_id", type=int)
    @as_json
    @click.pass_context
    def command(ctx: click.Context, rollout_id: int, json_output: bool) -> None:
        found = client(ctx).call("POST", f"/api/mlaas/rollouts/{rollout_id}/{name}")
        if json_output:
            click.echo(json.dumps(found, indent=2))
        else:
            click.echo(f"rollout {rollout_id}: {found['state']}")


_action("pause", "Stop starting devices (deliveries in flight finish).")
_action("resume", "Carry on; failures so far stop counting toward the threshold.")
_action("abort", "Stop for good; devices done keep the new model.")
_action("rollback", "Return every device the rollout changed to its earlier model.")
