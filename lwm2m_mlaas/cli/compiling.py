"""`mlaas compile` and `mlaas package verify`: the compiler, run locally against a data dir
(compiling in worker processes, with progress bars)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..api.shapes import compile_json
from ..config import ServerConfig
from ..core.artifact import StoredArtifact, StoredCompile
from ..store import Store
from .output import progress_bars

console = Console()


async def compile_command(model: str, device_classes: Sequence[str], *, backend: str | None = None,
                          workers: int = 1, db: str | None = None, data_dir: Path | None = None,
                          json_output: bool = False) -> int:  # fmt: skip
    """Compile `model` (a zoo task, zoo model or imported model) for each class ('all': every
    class) in `workers` processes; 0 when something fits every class, 2 for an unknown one."""
    from ..compiler.service import CompileService, UnknownTarget
    from ..compiler.targets import load_catalogue

    catalogue = load_catalogue()
    classes = list(catalogue) if list(device_classes) == ["all"] else list(device_classes)
    config = ServerConfig.load(data_dir=data_dir, db=db)
    store = await Store.open(config.database_url)
    service = CompileService(store, config.data_dir, workers=workers)
    # the chosen (or preferred) backend first; a class that also has a native runtime is
    # compiled for it too, side by side, unless a backend was asked for
    compiles = [(name, backend) for name in classes]
    if backend is None:
        compiles += [(name, "native") for name in classes
                     if name in catalogue and len(catalogue[name].compared_backends) > 1]
    outcomes: dict[tuple[str, str | None], StoredCompile] = {}
    try:
        with progress_bars() as progress:
            bar = progress.add_task(f"compiling {model}", total=len(compiles))

            async def one(name: str, chosen: str | None) -> None:
                outcomes[name, chosen] = await service.compile(model, name, chosen)
                progress.advance(bar)

            await asyncio.gather(*(one(name, chosen) for name, chosen in compiles))
    except UnknownTarget as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    finally:
        await service.close()
        await store.close()
    per_class = {name: [outcomes[name, chosen] for n, chosen in compiles if n == name]
                 for name in classes}  # fmt: skip
    if json_output:
        results = [compile_json(found[0], found if len(found) > 1 else ())
                   for found in per_class.values()]  # fmt: skip
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        table = Table(title=f"{model}: compiled for {len(classes)} class(es)")
        for column in ("class", "backend", "model", "arena", "RAM", "package", "int8",
                       "package or reason"):
            table.add_column(column, overflow="fold")
        comparisons = []
        for name, found in per_class.items():
            for o in found:
                a = o.artifact
                if a is None:
                    table.add_row(name, o.backend, "-", "", "", "", "", f"[yellow]{o.reason}[/]")
                    continue
                q = a.quality
                table.add_row(name, a.backend, a.model, f"{a.arena_bytes:,}",
                              _bytes(q.get("ram_needed")), f"{a.package_bytes:,}",
                              _fmt(q.get("int8")), a.id[:12])  # fmt: skip
            fitting = [o.artifact for o in found if o.artifact is not None]
            if len(found) > 1 and len(fitting) == len(found):
                comparisons.append(_side_by_side(name, fitting))
        console.print(table)
        for line in comparisons:
            console.print(line, soft_wrap=True)
    return 0 if all(found[0].artifact is not None for found in per_class.values()) else 1


def _side_by_side(name: str, artifacts: list[StoredArtifact]) -> str:
    """'mps2-an385: arena tflm 3,392 B, native-armv7m 128 B (-96%); package ...'."""
    reference = artifacts[0]

    def figures(what: str, value: Callable[[StoredArtifact], int]) -> str:
        shown = [f"{a.backend} {value(a):,} B" + (
            f" ({_change(value(a), value(reference))})" if a is not reference else "")
            for a in artifacts]  # fmt: skip
        return f"{what} " + ", ".join(shown)

    return (f"{name}: " + figures("arena", lambda a: a.arena_bytes) + "; "
            + figures("package", lambda a: a.package_bytes))  # fmt: skip


def _change(value: int, reference: int) -> str:
    return f"{(value - reference) / reference:+.0%}" if reference else "-"


def _bytes(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


async def package_verify(file: Path, *, key: Path | None = None, data_dir: Path | None = None,
                         json_output: bool = False) -> int:  # fmt: skip
    """0 for an intact package signed with `key` (None: any key of the data dir's keyring)."""
    from ..compiler import PackageError, load_public_key, verify_package
    from ..compiler.package import TrustedKeys
    from ..compiler.service import Layout
    from ..compiler.signing import Keyring

    try:
        keys: TrustedKeys | Any
        if key is not None:
            keys = load_public_key(key)
        else:  # any key of the data dir's keyring
            folder = Layout(ServerConfig.load(data_dir=data_dir).data_dir).keys
            keys = {e.key_id: load_public_key(e.public_key)
                    for e in Keyring(folder).entries()}  # fmt: skip
        data = file.read_bytes()
        manifest, payload = verify_package(data, keys)
    except (OSError, ValueError) as exc:
        reason = type(exc).__name__ if isinstance(exc, PackageError) else "unreadable"
        console.print(f"[red]rejected ({reason}): {exc}[/]")
        return 1
    summary = {"model": manifest.model, "version": manifest.version, "task": manifest.task,
               "class": manifest.device_class, "backend": manifest.backend,
               "payload_bytes": len(payload), "arena_bytes": manifest.arena_bytes}  # fmt: skip
    if json_output:
        print(json.dumps({"valid": True, **summary}, indent=2))
    else:
        console.print("[green]intact and correctly signed[/]: "
                      + ", ".join(f"{k} {v}" for k, v in summary.items()))  # fmt: skip
    return 0
