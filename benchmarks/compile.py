"""Compile benchmark: every zoo variant compiled (cold, then from the cache) and every task
fitted to every device class, on a fresh data dir. Prints per variant: compile time, cache-hit
time, arena bytes, model bytes, float and int8 quality; per task and class: the variant chosen
or why none fits; then the issue's bar: a fit wherever one is possible, int8 within 2 points of
float for the classifiers, and TFLite-Micro reproducing every package's golden outputs exactly.

    python benchmarks/compile.py [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lwm2m_mlaas.compiler import load_public_key, verify_package
from lwm2m_mlaas.compiler.service import CompileService, Layout
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.compiler.targets import load_catalogue
from lwm2m_mlaas.compiler.verify import golden_matches
from lwm2m_mlaas.core.artifact import StoredCompile
from lwm2m_mlaas.store import Store
from lwm2m_mlaas.zoo.model import TaskKind
from lwm2m_mlaas.zoo.tasks import TASKS
from lwm2m_mlaas.zoo.variants import VARIANTS

ROOMY = "mps2-an505"
"""A class that holds every variant, to measure each one on its own."""


def golden_reproduced(package: Path, public_key: Path) -> tuple[int, int]:
    """(vectors reproduced bit for bit, vectors) running the package in a fresh TFLM."""
    manifest, payload = verify_package(package.read_bytes(), load_public_key(public_key))
    return golden_matches(manifest, payload)


async def timed(
    service: CompileService, target: str, class_name: str
) -> tuple[StoredCompile, float]:
    started = time.perf_counter()
    outcome = await service.compile(target, class_name)
    return outcome, time.perf_counter() - started


async def run(data_dir: Path, workers: int, console: Console) -> dict[str, Any]:
    store = await Store.open(f"sqlite+aiosqlite:///{data_dir / 'mlaas.db'}")
    service = CompileService(store, data_dir, workers=workers)
    classes = list(load_catalogue())
    variants: dict[str, dict[str, Any]] = {}
    fits: dict[tuple[str, str], StoredCompile] = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)  # fmt: skip
    try:
        with progress:
            bar = progress.add_task("variants (train, quantize, measure, verify)",
                                    total=len(VARIANTS))  # fmt: skip

            for name in VARIANTS:  # one at a time, so that each time is its own
                cold = await timed(service, name, ROOMY)
                hit = await timed(service, name, ROOMY)
                variants[name] = {"compile": cold, "hit": hit[1]}
                progress.advance(bar)
            bar = progress.add_task("fit every task to every class",
                                    total=len(TASKS) * len(classes))  # fmt: skip

            async def fit(task: str, class_name: str) -> None:
                fits[task, class_name] = (await timed(service, task, class_name))[0]
                progress.advance(bar)

            await asyncio.gather(*(fit(t, c) for t in TASKS for c in classes))
    finally:
        await service.close()
        await store.close()
    public_key = Layout(data_dir).keys / PUBLIC_KEY_FILE
    golden = [golden_reproduced(Path(o.artifact.path), public_key)
              for o in fits.values() if o.artifact is not None]  # fmt: skip
    return {"variants": variants, "fits": fits, "classes": classes, "golden": golden}


def report(result: dict[str, Any], console: Console) -> dict[str, Any]:
    table = Table(
        title=f"Zoo variants compiled for {ROOMY} (cold: train, quantize, measure, "
        "verify, package; hit: from the database)"
    )
    for column in ("variant", "cold s", "hit ms", "arena B", "model B", "float", "int8", "delta"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    rows = []
    for name, entry in result["variants"].items():
        outcome, cold = entry["compile"]
        a = outcome.artifact
        q = a.quality
        rows.append({"variant": name, "compile_s": cold, "cache_hit_ms": entry["hit"] * 1000,
                     "arena_bytes": a.arena_bytes, "model_bytes": a.model_bytes,
                     "float": q["float"], "int8": q["int8"], "delta": q["delta"]})  # fmt: skip
        table.add_row(name, f"{cold:.1f}", f"{entry['hit'] * 1000:.0f}", f"{a.arena_bytes:,}",
                      f"{a.model_bytes:,}", f"{q['float']:.3f}", f"{q['int8']:.3f}",
                      f"{q['delta']:+.3f}")  # fmt: skip
    console.print(table)

    classes = result["classes"]
    grid = Table(title="Variant chosen per task and class (- : no fit, reason below)")
    grid.add_column("task")
    for name in classes:
        grid.add_column(name.replace("mps2-", ""), justify="center")
    reasons = []
    for task in TASKS:
        cells = []
        for name in classes:
            outcome = result["fits"][task, name]
            if outcome.artifact is None:
                cells.append("-")
                reasons.append(f"{task} on {name}: {outcome.reason}")
            else:
                cells.append(outcome.artifact.model.rsplit("-", 1)[-1])
        grid.add_row(task, *cells)
    console.print(grid)
    for reason in reasons:
        console.print(f"  {reason}")

    classifiers = [r for r in rows if TASKS[VARIANTS[r["variant"]].task].kind
                   is TaskKind.CLASSIFICATION]  # fmt: skip
    worst = min((r["int8"] - r["float"]) * 100 for r in classifiers)
    exact = sum(e for e, _ in result["golden"])
    vectors = sum(n for _, n in result["golden"])
    no_fit_has_reason = all(o.artifact is not None or o.reason for o in result["fits"].values())
    console.print(
        f"bar: fit or reason for every task x class: {'yes' if no_fit_has_reason else 'NO'}; "
        f"classifiers' worst int8 - float: {worst:+.2f} points (limit -2); "
        f"golden outputs reproduced exactly: {exact}/{vectors}"
    )
    return {"variants": rows,
            "fits": {f"{t}@{c}": (o.artifact.model if o.artifact else None, o.reason)
                     for (t, c), o in result["fits"].items()},
            "worst_classifier_delta_points": worst, "golden_exact": exact,
            "golden_total": vectors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="compile processes")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    console = Console(stderr=args.json)
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(Path(folder), args.workers, console))
        summary = report(result, console)
    if args.json:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
