"""The Zoo: every task's size variants, trained on first use and cached on disk, plus the
models users imported.

Layout under the root folder:
  <name>/<key>/            a trained variant, e.g. gesture-s/3f2a...; key = hash of the zoo's
                           code, the task's data recipe, the variant, the seed and the versions
                           of the libraries that train it
    model.keras            float model, static batch 1
    data.npz               representative, x_test, y_test
    meta.json              name, task, variant, version, kind, float_quality, threshold, labels,
                           params, seed, key
  imported/<name>/<version>/   an imported model (see importer.py)
  imported/<name>/current      the version `get(name)` returns

Loading a cached entry imports neither TensorFlow nor Keras."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import metadata
from pathlib import Path

from . import cache
from .model import TaskKind, ZooModel
from .tasks import TASKS, Dataset
from .variants import VARIANTS, Variant

CODE = ("tasks.py", "variants.py", "train.py", "quality.py", "cache.py")
"""The modules whose source is part of the cache key: data, models, training, the recorded
quality and the entry format."""
LIBRARIES = ("keras", "numpy", "scikit-learn", "tensorflow", "tensorflow-cpu")
IMPORTED = "imported"


class UnknownModel(LookupError):
    """No zoo variant and no imported model has this name."""


class Zoo:
    def __init__(self, root: Path, seed: int = 0) -> None:
        self.root = Path(root)
        self.seed = seed
        self.trained: list[str] = []
        """Names this instance trained (rather than found in the cache), in order."""
        self._datasets: dict[str, Dataset] = {}
        self._keys: dict[Variant, str] = {}

    @staticmethod
    def catalogue() -> list[str]:
        """The zoo's own models, e.g. 'gesture-s' (trained on first use)."""
        return list(VARIANTS)

    def get(self, name: str) -> ZooModel:
        """A zoo variant (from the cache, else trained now) or the current version of an
        imported model."""
        if name in VARIANTS:
            variant = VARIANTS[name]
            entry = self.root / name / self.key(variant)
            if not (entry / cache.META).is_file():
                self._train(variant, entry)
            return cache.read_entry(entry)
        current = self.root / IMPORTED / name / "current"
        if current.is_file():
            return cache.read_entry(current.parent / current.read_text().strip())
        raise UnknownModel(f"no model named {name!r} in the zoo or among imported models")

    def cached(self, name: str) -> ZooModel | None:
        """The model if it is built (a zoo variant in the cache, or imported), never training."""
        if name in VARIANTS:
            entry = self.root / name / self.key(VARIANTS[name])
            return cache.read_entry(entry) if (entry / cache.META).is_file() else None
        try:
            return self.get(name)
        except UnknownModel:
            return None

    def models(self, task: str | None = None) -> list[ZooModel]:
        """The variants of `task` (every task's if None), smallest first, building as needed."""
        if task is not None and task not in TASKS:
            raise UnknownModel(f"no task named {task!r}; tasks: {', '.join(TASKS)}")
        return [self.get(v.name) for v in VARIANTS.values() if task in (None, v.task)]

    def imported(self) -> list[ZooModel]:
        """The current version of every imported model, by name."""
        folder = self.root / IMPORTED
        names = sorted(p.parent.name for p in folder.glob("*/current")) if folder.is_dir() else []
        return [self.get(name) for name in names]

    def import_model(
        self,
        path: Path,
        task: str,
        name: str | None = None,
        representative: Path | None = None,
        test_data: Path | None = None,
        *,
        kind: TaskKind | None = None,
    ) -> ZooModel:
        """Import an int8 .tflite, a Keras .keras file or a SavedModel directory (see
        importer.py). `task` is a zoo task or any name; for the latter give `kind` (or name the
        task after its kind, e.g. 'classification')."""
        from .importer import import_model

        return import_model(
            self.root / IMPORTED,
            Path(path),
            task,
            name=name,
            kind=kind,
            representative=representative,
            test_data=test_data,
            reserved=set(VARIANTS),
        )

    def key(self, variant: Variant) -> str:
        """Cache key of a trained variant (worked out once per variant: the code it hashes does
        not change while the process runs)."""
        found = self._keys.get(variant)
        if found is None:
            found = self._keys[variant] = self._key(variant)
        return found

    def _key(self, variant: Variant) -> str:
        here = Path(__file__).parent
        recipe = TASKS[variant.task].recipe
        identity = {
            "code": {f: hashlib.sha256((here / f).read_bytes()).hexdigest() for f in CODE},
            "recipe": [type(recipe).__name__, dataclasses.asdict(recipe)],  # type: ignore[call-overload]
            "variant": dataclasses.asdict(variant),
            "seed": self.seed,
            "libraries": {lib: _version(lib) for lib in LIBRARIES},
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

    def _train(self, variant: Variant, entry: Path) -> None:
        from .train import train

        task = TASKS[variant.task]
        if task.name not in self._datasets:
            self._datasets[task.name] = task.dataset(self.seed)
        data = self._datasets[task.name]
        trained = train(task, variant, data, self.seed)
        with cache.scratch(entry.parent) as folder:
            model = ZooModel(
                name=variant.name,
                task=task.name,
                variant=variant.size,
                version=cache.keras_digest(trained.model)[:12],
                kind=task.kind,
                model_path=entry / "model.keras",
                data_path=entry / cache.DATA,
                float_quality=trained.float_quality,
                labels=data.labels,
                threshold=trained.threshold,
            )
            trained.model.save(folder / model.model_path.name)
            cache.write_data(folder, data.representative, data.x_test, data.y_test)
            cache.write_meta(folder, model, params=trained.params, seed=self.seed, key=entry.name)
            cache.commit(folder, entry)
        self.trained.append(variant.name)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
