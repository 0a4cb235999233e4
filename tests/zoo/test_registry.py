"""The Zoo: variants trained once, deterministically, cached on disk across processes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from lwm2m_mlaas.zoo import TaskKind, UnknownModel, Zoo
from lwm2m_mlaas.zoo.cache import commit, scratch
from lwm2m_mlaas.zoo.tasks import TASKS
from lwm2m_mlaas.zoo.variants import VARIANTS

pytestmark = pytest.mark.slow

FLOORS = {TaskKind.CLASSIFICATION: 0.85, TaskKind.REGRESSION: 0.8, TaskKind.ANOMALY: 0.85}


def test_catalogue_has_two_or_three_sizes_per_task() -> None:
    names = Zoo.catalogue()
    for task in TASKS:
        sizes = [n.removeprefix(f"{task}-") for n in names if n.startswith(f"{task}-")]
        assert 2 <= len(sizes) <= 3 and sizes[0] == "s"


@pytest.mark.parametrize("name", Zoo.catalogue())
def test_every_variant_trains_to_its_quality_floor(zoo: Zoo, name: str) -> None:
    model = zoo.get(name)
    task, size = name.split("-")
    assert (model.name, model.task, model.variant, model.source) == (name, task, size, "zoo")
    assert model.kind is TASKS[task].kind
    assert model.float_quality is not None and model.float_quality >= FLOORS[model.kind]
    assert model.model_path.suffix == ".keras" and model.model_path.is_file()
    assert len(model.version) == 12
    with np.load(model.data_path) as data:
        assert sorted(data) == ["representative", "x_test", "y_test"]
        assert 0 < len(data["representative"]) <= 200
    if model.kind is TaskKind.CLASSIFICATION:
        assert len(model.labels) >= 2
    assert (model.threshold is not None) == (model.kind is TaskKind.ANOMALY)


@pytest.mark.parametrize("task", list(TASKS))
def test_saved_models_have_batch_one_and_grow_with_size(zoo: Zoo, task: str) -> None:
    params = []
    for model in zoo.models(task):
        net = keras.saving.load_model(model.model_path)
        assert net.inputs[0].shape[0] == 1 and net.outputs[0].shape[0] == 1
        assert not any("ReLU" in type(layer).__name__ for layer in net.layers)
        params.append(net.count_params())
    assert all(small * 1.5 < large for small, large in itertools.pairwise(params))


def test_anomaly_threshold_flags_few_normal_inputs(zoo: Zoo) -> None:
    model = zoo.get("anomaly-s")
    net = keras.saving.load_model(model.model_path)
    with np.load(model.data_path) as data:
        x, y = data["x_test"][:200], data["y_test"][:200]
    scores = np.mean((x - np.concatenate([net(row[None]) for row in x])) ** 2, axis=1)
    assert np.mean(scores[y == 0] > model.threshold) < 0.05
    assert np.mean(scores[y == 1] > model.threshold) > 0.5


def test_a_second_zoo_on_the_same_folder_trains_nothing(zoo: Zoo) -> None:
    first = zoo.models("sine")
    again = Zoo(zoo.root)
    assert again.models("sine") == first
    assert again.trained == []
    assert not list(zoo.root.glob("*/.building-*"))


def test_a_new_process_loads_from_the_cache_without_tensorflow(zoo: Zoo) -> None:
    expected = zoo.get("digits-s")
    script = (
        "import sys; from pathlib import Path; from lwm2m_mlaas.zoo import Zoo\n"
        f"zoo = Zoo(Path({str(zoo.root)!r})); model = zoo.get('digits-s')\n"
        "print(model.model_path, model.version, zoo.trained, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(expected.model_path), expected.version, "[]", "False"]


def test_same_seed_same_weights_and_data(zoo: Zoo, tmp_path: Path) -> None:
    other = Zoo(tmp_path)
    for name in ("sine-s", "digits-s"):
        mine, theirs = zoo.get(name), other.get(name)
        assert theirs.version == mine.version and theirs.float_quality == mine.float_quality
        assert theirs.data_path.read_bytes() == mine.data_path.read_bytes()
        weights = [keras.saving.load_model(m.model_path).get_weights() for m in (mine, theirs)]
        assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))
    assert other.trained == ["sine-s", "digits-s"]


def test_cache_key_follows_seed_and_recipe(zoo: Zoo, tmp_path: Path) -> None:
    variant = VARIANTS["sine-s"]
    assert Zoo(tmp_path).key(variant) == zoo.key(variant)
    assert Zoo(tmp_path, seed=1).key(variant) != zoo.key(variant)
    assert zoo.key(VARIANTS["sine-m"]) != zoo.key(variant)


def test_meta_records_params_seed_and_key(zoo: Zoo) -> None:
    model = zoo.get("sine-s")
    meta = json.loads((model.model_path.parent / "meta.json").read_text())
    assert meta["params"] == 321 and meta["seed"] == 0
    assert meta["key"] == model.model_path.parent.name == zoo.key(VARIANTS["sine-s"])


def test_a_finished_entry_is_never_replaced(tmp_path: Path) -> None:
    entry = tmp_path / "m" / "key"
    for text in ("first", "second"):
        with scratch(entry.parent) as folder:
            (folder / "meta.json").write_text(text)
            commit(folder, entry)
    assert (entry / "meta.json").read_text() == "first"
    assert [p.name for p in entry.parent.iterdir()] == ["key"]


def test_unknown_names(zoo: Zoo) -> None:
    with pytest.raises(UnknownModel, match="no model named 'nope'"):
        zoo.get("nope")
    with pytest.raises(UnknownModel, match="no task named 'nope'"):
        zoo.models("nope")
