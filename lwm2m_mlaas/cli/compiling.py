"""`mlaas compile` and `mlaas package verify`: the compiler, run locally against a data dir
(compiling in worker processes, with progress bars)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..api.shapes import compile_json
from ..config import ServerConfig
from ..store import Store, StoredCompile
from .output import progress_bars

console = Console()


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig.load(data_dir=args.data_dir, db=getattr(args, "db", None))


async def compile_command(args: argparse.Namespace) -> int:
    from ..compiler.service import CompileService, UnknownTarget
    from ..compiler.targets import load_catalogue

    classes = list(load_catalogue()) if args.device_class == ["all"] else args.device_class
    config = _config(args)
    store = await Store.open(config.database_url)
    service = CompileService(store, config.data_dir, workers=args.workers)
    outcomes: list[StoredCompile] = []
    try:
        with progress_bars() as progress:
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
    from ..compiler.package import TrustedKeys
    from ..compiler.service import Layout
    from ..compiler.signing import Keyring

    try:
        keys: TrustedKeys | Any
        if args.key:
            keys = load_public_key(Path(args.key))
        else:  # any key of the data dir's keyring
            keys = {e.key_id: load_public_key(e.public_key)
                    for e in Keyring(Layout(_config(args).data_dir).keys).entries()}  # fmt: skip
        data = Path(args.file).read_bytes()
        manifest, payload = verify_package(data, keys)
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
