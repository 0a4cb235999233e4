"""Importing users' models: int8 .tflite as is, Keras and SavedModel with representative data."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from lwm2m_mlaas.zoo import (
    DataShapeMismatch,
    MissingRepresentativeData,
    ModelImportError,
    NotInt8Model,
    TaskKind,
    UnknownModelFormat,
    Zoo,
)
from tests.helpers import MLPERF_TINY

MLPERF = [
    ("kws_ref_model.tflite", "keyword-spotting", TaskKind.CLASSIFICATION, (49, 10, 1)),
    ("pretrainedResnet_quant.tflite", "image-classification", TaskKind.CLASSIFICATION, (32, 32, 3)),
    ("ad01_int8.tflite", "anomaly-detection", TaskKind.ANOMALY, (640,)),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small float classifier for 8x8 inputs (dynamic batch) as .keras, SavedModel and
    float .tflite, with representative and labelled test data."""
    folder = tmp_path_factory.mktemp("user")
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    net.save(folder / "user.keras")
    net.export(folder / "saved", verbose=False)
    (folder / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    y = np.asarray(net(x)).argmax(axis=1)
    y[:10] = (y[:10] + 1) % 10
    np.save(folder / "rep.npy", x[:20])
    np.save(folder / "rep_wrong.npy", x[:20].reshape(20, 64))
    np.savez(folder / "test.npz", x_test=x, y_test=y)
    (folder / "notes.txt").write_text("not a model")
    return {p.stem if p.is_file() else p.name: p for p in folder.iterdir()}


@pytest.mark.parametrize(("file", "task", "kind", "shape"), MLPERF)
def test_mlperf_tiny_models_import_as_they_are(
    tmp_path: Path, file: str, task: str, kind: TaskKind, shape: tuple[int, ...]
) -> None:
    source = MLPERF_TINY / file
    model = Zoo(tmp_path).import_model(source, task, kind=kind)
    assert (model.task, model.kind, model.source, model.float_quality) == (
        task,
        kind,
        "import",
        None,
    )
    assert model.model_path.suffix == ".tflite"
    assert model.model_path.read_bytes() == source.read_bytes()
    with np.load(model.data_path) as data:
        assert data["representative"].shape[1:] == data["x_test"].shape[1:] == shape
        assert "y_test" not in data
    assert Zoo(tmp_path).imported() == [model]
    assert Zoo(tmp_path).get(model.name) == model


def test_int8_tflite_with_labelled_test_data_gets_its_quality(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(0.0, 1.0, (20, 640)).astype(np.float32)
    np.savez(
        tmp_path / "test.npz",
        x_test=np.concatenate([normal, 8 * normal]),
        y_test=np.repeat([0, 1], 20),
    )
    model = Zoo(tmp_path / "zoo").import_model(
        MLPERF_TINY / "ad01_int8.tflite",
        "anomaly-detection",
        name="ad",
        kind=TaskKind.ANOMALY,
        test_data=tmp_path / "test.npz",
    )
    assert model.name == "ad" and model.float_quality is not None
    assert 0.5 < model.float_quality <= 1.0
    with np.load(model.data_path) as data:
        assert data["x_test"].shape == (40, 640) and data["y_test"].shape == (40,)


def test_keras_model_gets_a_static_batch_of_one(tmp_path: Path, files: dict[str, Path]) -> None:
    model = Zoo(tmp_path).import_model(
        files["user"], "digits", representative=files["rep"], test_data=files["test"]
    )
    assert (model.name, model.kind, model.variant) == ("user", TaskKind.CLASSIFICATION, "import")
    assert model.float_quality == 0.75
    net = keras.saving.load_model(model.model_path)
    assert net.inputs[0].shape == (1, 8, 8, 1)
    original = keras.saving.load_model(files["user"])
    x = np.load(files["rep"])[:1]
    np.testing.assert_array_equal(net(x), original(x))


def test_saved_model_is_re_exported_with_a_static_batch_of_one(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    model = Zoo(tmp_path).import_model(
        files["saved"], "classification", representative=files["rep"], test_data=files["test"]
    )
    assert model.kind is TaskKind.CLASSIFICATION and model.float_quality == 0.75
    assert model.model_path.name == "saved_model" and model.model_path.is_dir()
    serving = tf.saved_model.load(str(model.model_path)).signatures["serving_default"]
    (spec,) = serving.structured_input_signature[1].values()
    assert spec.shape.as_list() == [1, 8, 8, 1]
    with np.load(model.data_path) as data:
        np.testing.assert_array_equal(data["representative"], np.load(files["rep"]))


def test_reimport_with_new_data_is_a_new_current_version(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    zoo = Zoo(tmp_path)
    first = zoo.import_model(files["user"], "digits", representative=files["rep"])
    same = zoo.import_model(files["user"], "digits", representative=files["rep"])
    second = zoo.import_model(
        files["user"], "digits", representative=files["rep"], test_data=files["test"]
    )
    assert same.version == first.version != second.version
    assert zoo.get("user") == second and zoo.imported() == [second]
    assert first.model_path.is_file()


@pytest.mark.parametrize("file", ["notes", "rep"])
def test_unknown_file_kind(tmp_path: Path, files: dict[str, Path], file: str) -> None:
    with pytest.raises(UnknownModelFormat, match=r"neither a \.tflite flatbuffer"):
        Zoo(tmp_path).import_model(files[file], "digits")
    with pytest.raises(UnknownModelFormat):
        Zoo(tmp_path).import_model(tmp_path, "digits")  # a directory without a SavedModel


def test_float_tflite_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(NotInt8Model, match="input float32, output float32"):
        Zoo(tmp_path).import_model(files["float"], "digits", representative=files["rep"])


@pytest.mark.parametrize("file", ["user", "saved"])
def test_float_models_need_representative_data(
    tmp_path: Path, files: dict[str, Path], file: str
) -> None:
    with pytest.raises(MissingRepresentativeData, match=r"\(N, 8, 8, 1\)"):
        Zoo(tmp_path).import_model(files[file], "digits")
    assert Zoo(tmp_path).imported() == []
    assert not list(tmp_path.glob("imported/*/.building-*"))


@pytest.mark.parametrize("file", ["user", "saved"])
def test_representative_data_must_fit_the_input(
    tmp_path: Path, files: dict[str, Path], file: str
) -> None:
    with pytest.raises(DataShapeMismatch, match=r"shape \(20, 64\) .* expected \(N, 8, 8, 1\)"):
        Zoo(tmp_path).import_model(files[file], "digits", representative=files["rep_wrong"])


def test_tflite_data_must_fit_the_input(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(DataShapeMismatch, match=r"expected \(N, 49, 10, 1\)"):
        Zoo(tmp_path).import_model(
            MLPERF_TINY / "kws_ref_model.tflite", "classification", representative=files["rep"]
        )


def test_task_kind_and_name_are_checked(tmp_path: Path, files: dict[str, Path]) -> None:
    zoo = Zoo(tmp_path)
    kws = MLPERF_TINY / "kws_ref_model.tflite"
    with pytest.raises(ModelImportError, match="not a zoo task"):
        zoo.import_model(kws, "keyword-spotting")
    with pytest.raises(ModelImportError, match="task 'digits' is classification, not anomaly"):
        zoo.import_model(kws, "digits", kind=TaskKind.ANOMALY)
    with pytest.raises(ModelImportError, match="must not be a zoo model's name"):
        zoo.import_model(kws, "digits", name="digits-s")
    with pytest.raises(FileNotFoundError):
        zoo.import_model(tmp_path / "missing.tflite", "digits")
    assert zoo.imported() == []


@pytest.mark.parametrize("source", ["user", "saved"])
def test_imported_float_models_quantize_to_int8(
    tmp_path: Path, files: dict[str, Path], source: str
) -> None:
    from lwm2m_mlaas.compiler.quantize import quantize

    model = Zoo(tmp_path).import_model(
        files[source], "classification", representative=files["rep"], test_data=files["test"]
    )
    quantized = quantize(model)
    assert quantized.input.dtype == quantized.output.dtype == "int8"
    assert quantized.input.shape == (1, 8, 8, 1) and quantized.output.shape == (1, 10)
    assert set(quantized.ops) <= {"CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
