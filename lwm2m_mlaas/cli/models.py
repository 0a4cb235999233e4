"""`mlaas models`, `mlaas compile` and `mlaas package`: the zoo and the compiler, run locally
against the data dir (training and compiling in worker processes, with progress bars)."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api.shapes import compile_json, model_json
from ..config import ServerConfig
from ..store import Store, StoredCompile

console = Console()


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig.load(data_dir=args.data_dir, db=getattr(args, "db", None))


def _zoo(args: argparse.Namespace) -> Any:
    from ..compiler.service import Layout
    from ..zoo import Zoo

    return Zoo(Layout(_config(args).data_dir).zoo)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True))  # fmt: skip


async def models_list(args: argparse.Namespace) -> int:
    from ..zoo.variants import VARIANTS

    zoo = _zoo(args)
    rows = [(name, v.task, v.size, zoo.cached(name)) for name, v in VARIANTS.items()]
    rows += [(m.name, m.task, m.variant, m) for m in zoo.imported()]
    if args.json:
        print(json.dumps([
            {"name": name, "task": task, "variant": variant, "built": model is not None,
             **({} if model is None else model_json(model))}
            for name, task, variant, model in rows
        ], indent=2))  # fmt: skip
        return 0
    table = Table(title=f"{len(rows)} models ({len(VARIANTS)} zoo variants)")
    for column in ("model", "task", "size", "kind", "version", "float quality"):
        table.add_column(column, no_wrap=True)
    for name, task, variant, model in rows:
        if model is None:
            table.add_row(name, task, variant, "", "not built", "")
        else:
            q = "" if model.float_quality is None else f"{model.float_quality:.3f}"
            table.add_row(name, task, variant, str(model.kind), model.version, q)
    console.print(table)
    return 0


async def models_show(args: argparse.Namespace) -> int:
    model = _zoo(args).cached(args.name)
    if model is None:
        console.print(f"[red]{args.name}: not built or unknown[/] (`mlaas models list`, "
                      f"`mlaas models build {args.name}`)")  # fmt: skip
        return 1
    details = model_json(model)
    if args.json:
        print(json.dumps(details, indent=2))
    else:
        table = Table(title=model.name, show_header=False)
        for key, value in details.items():
            table.add_row(key, str(value))
        console.print(table)
    return 0


def _build(root: Path, name: str) -> str:
    from ..zoo import Zoo

    return str(Zoo(root).get(name).version)


async def models_build(args: argparse.Namespace) -> int:
    from ..zoo.variants import VARIANTS

    zoo = _zoo(args)
    names = list(VARIANTS) if args.all or not args.names else args.names
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        console.print(f"[red]unknown zoo model(s): {', '.join(unknown)}[/]")
        return 2
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool, \
            _progress() as progress:  # fmt: skip
        bar = progress.add_task("training", total=len(names))
        for name in names:
            progress.update(bar, description=f"training {name}")
            await loop.run_in_executor(pool, _build, zoo.root, name)
            progress.advance(bar)
    return await models_list(argparse.Namespace(**{**vars(args), "json": args.json}))


async def models_import(args: argparse.Namespace) -> int:
    from ..zoo import ModelImportError, TaskKind

    zoo = _zoo(args)
    try:
        model = await asyncio.to_thread(
            zoo.import_model, Path(args.path), args.task, args.name,
            None if args.representative is None else Path(args.representative),
            None if args.test_data is None else Path(args.test_data),
            kind=None if args.kind is None else TaskKind(args.kind))  # fmt: skip
    except (ModelImportError, FileNotFoundError) as exc:
        console.print(f"[red]import failed: {exc}[/]")
        return 1
    if args.json:
        print(json.dumps(model_json(model), indent=2))
    else:
        console.print(f"imported [bold]{model.name}[/] version {model.version} "
                      f"({model.kind}, task {model.task})")  # fmt: skip
    return 0


async def compile_command(args: argparse.Namespace) -> int:
    from ..compiler.service import CompileService, UnknownTarget
    from ..compiler.targets import load_catalogue

    classes = list(load_catalogue()) if args.device_class == ["all"] else args.device_class
    config = _config(args)
    store = await Store.open(config.database_url)
    service = CompileService(store, config.data_dir, workers=args.workers)
    outcomes: list[StoredCompile] = []
    try:
        with _progress() as progress:
            bar = progress.add_task(f"compiling {args.model}", total=len(classes))

            async def one(name: str) -> None:
                outcomes.append(await service.compile(args.model, name))
                progress.advance(bar)

            await asyncio.gather(*(one(name) for name in classes))
    except UnknownTarget as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    finally:
        await service.close()
        await store.close()
    outcomes.sort(key=lambda o: classes.index(o.device_class))
    if args.json:
        results = [compile_json(o) for o in outcomes]
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        table = Table(title=f"{args.model}: compiled for {len(classes)} class(es)")
        for column in ("class", "model", "arena", "bytes", "int8", "float", "package or reason"):
            table.add_column(column, overflow="fold")
        for o in outcomes:
            a = o.artifact
            if a is None:
                table.add_row(o.device_class, "-", "", "", "", "", f"[yellow]{o.reason}[/]")
                continue
            q = a.quality
            table.add_row(o.device_class, a.model, f"{a.arena_bytes:,}", f"{a.model_bytes:,}",
                          _fmt(q.get("int8")), _fmt(q.get("float")), a.id[:12])  # fmt: skip
        console.print(table)
    return 0 if all(o.artifact is not None for o in outcomes) else 1


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


async def package_verify(args: argparse.Namespace) -> int:
    from ..compiler import PackageError, load_public_key, verify_package
    from ..compiler.service import Layout
    from ..compiler.signing import PUBLIC_KEY_FILE

    key_path = Path(args.key) if args.key else Layout(_config(args).data_dir).keys / PUBLIC_KEY_FILE
    try:
        data = Path(args.file).read_bytes()
        manifest, payload = verify_package(data, load_public_key(key_path))
    except (OSError, ValueError) as exc:
        reason = type(exc).__name__ if isinstance(exc, PackageError) else "unreadable"
        console.print(f"[red]rejected ({reason}): {exc}[/]")
        return 1
    summary = {"model": manifest.model, "version": manifest.version, "task": manifest.task,
               "class": manifest.device_class, "backend": manifest.backend,
               "payload_bytes": len(payload), "arena_bytes": manifest.arena_bytes}  # fmt: skip
    if args.json:
        print(json.dumps({"valid": True, **summary}, indent=2))
    else:
        console.print("[green]intact and correctly signed[/]: "
                      + ", ".join(f"{k} {v}" for k, v in summary.items()))  # fmt: skip
    return 0


def add_commands(commands: Any) -> None:
    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", type=Path, help="folder for the zoo, keys, packages")

    models = commands.add_parser("models", help="the model zoo")
    sub = models.add_subparsers(dest="models_command", required=True)
    p = sub.add_parser("list", help="zoo variants and imported models")
    p.add_argument("--json", action="store_true")
    data_dir(p)
    p.set_defaults(run=models_list)
    p = sub.add_parser("show", help="one model")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    data_dir(p)
    p.set_defaults(run=models_show)
    p = sub.add_parser("build", help="train zoo variants (cached)")
    p.add_argument("names", nargs="*", help="zoo model names (default: all)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    data_dir(p)
    p.set_defaults(run=models_build)
    p = sub.add_parser("import", help="import an int8 .tflite, a .keras file or a SavedModel")
    p.add_argument("path")
    p.add_argument("--task", required=True, help="zoo task or kind (classification, ...)")
    p.add_argument("--name", help="model name (default: from the file name)")
    p.add_argument("--representative", help=".npy of inputs for int8 calibration")
    p.add_argument("--test-data", help=".npz with x_test, y_test (or .npy of inputs)")
    p.add_argument(
        "--kind",
        choices=("classification", "regression", "anomaly"),
        help="what the model does, when --task is not a zoo task",
    )
    p.add_argument("--json", action="store_true")
    data_dir(p)
    p.set_defaults(run=models_import)

    p = commands.add_parser("compile", help="compile a task or model for device classes")
    p.add_argument("model", help="a zoo task (gesture, ...), zoo model or imported model")
    p.add_argument(
        "--class",
        dest="device_class",
        action="append",
        required=True,
        help="device class (repeat, or 'all')",
    )
    p.add_argument("--workers", type=int, default=1, help="compile processes")
    p.add_argument("--json", action="store_true")
    p.add_argument("--db", help="SQLite file path or SQLAlchemy URL")
    data_dir(p)
    p.set_defaults(run=compile_command)

    package = commands.add_parser("package", help="model packages")
    sub = package.add_subparsers(dest="package_command", required=True)
    p = sub.add_parser("verify", help="exit 0 only for an intact, correctly signed package")
    p.add_argument("file")
    p.add_argument("--key", help="public key PEM (default: the data dir's signing key)")
    p.add_argument("--json", action="store_true")
    data_dir(p)
    p.set_defaults(run=package_verify)
