"""The zoo's folder: one entry directory per model version, holding the model, data.npz and
meta.json. Entries are built in a temporary directory beside their place and renamed into it,
so readers see a whole entry or none, and two builders of the same entry cannot corrupt it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import TaskKind, ZooModel

META = "meta.json"
DATA = "data.npz"


@contextmanager
def scratch(parent: Path) -> Iterator[Path]:
    """A temporary directory in `parent` to build an entry in; removed on exit unless it was
    committed."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(folder: Path, entry: Path) -> None:
    """Rename a built folder to its entry. An entry is never replaced: if another builder
    committed the same entry first, theirs stays (and `folder` is left for scratch to remove)."""
    try:
        folder.rename(entry)
    except OSError:
        if not (entry / META).is_file():
            raise


def write_data(
    folder: Path,
    representative: npt.NDArray[Any],
    x_test: npt.NDArray[Any],
    y_test: npt.NDArray[Any] | None,
) -> None:
    arrays = {"representative": representative, "x_test": x_test}
    if y_test is not None:
        arrays["y_test"] = y_test
    np.savez(folder / DATA, **arrays)  # type: ignore[arg-type]


def write_meta(folder: Path, model: ZooModel, **extra: Any) -> None:
    meta = {
        "name": model.name,
        "task": model.task,
        "variant": model.variant,
        "version": model.version,
        "kind": str(model.kind),
        "model": model.model_path.name,
        "float_quality": model.float_quality,
        "labels": list(model.labels),
        "threshold": model.threshold,
        "source": model.source,
        **extra,
    }
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(entry: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((entry / META).read_text())
    return meta


def read_entry(entry: Path) -> ZooModel:
    meta = read_meta(entry)
    return ZooModel(
        name=meta["name"],
        task=meta["task"],
        variant=meta["variant"],
        version=meta["version"],
        kind=TaskKind(meta["kind"]),
        model_path=entry / meta["model"],
        data_path=entry / DATA,
        float_quality=meta["float_quality"],
        labels=tuple(meta["labels"]),
        threshold=meta["threshold"],
        source=meta["source"],
    )


def write_pointer(path: Path, text: str) -> None:
    """Replace a small file atomically."""
    fd, tmp = tempfile.mkstemp(prefix=".pointer-", dir=path.parent)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(tmp, path)


def keras_digest(model: Any) -> str:
    """Content hash of a Keras model: architecture and weights (a .keras file's bytes are not
    stable: it records the time it was saved)."""
    digest = hashlib.sha256(model.to_json().encode())
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()
