"""Import a user's model into the zoo: an int8 .tflite, a Keras .keras file or a SavedModel.

- int8 .tflite (int8 input and output): kept byte for byte as model.tflite; the compiler ships
  it as is. Representative data is optional (default: the test inputs, else 16 seeded random
  inputs spread over the input's int8 range, dequantized). float_quality is the quality of
  these int8 outputs (desktop TFLite interpreter) when labelled test data is given, else None.
- Keras .keras: loaded (safe mode), rebuilt with a static batch of 1 if its batch is dynamic,
  saved as model.keras. Needs representative data.
- SavedModel directory: its serving_default signature is re-exported with a static batch of 1
  into saved_model/ (model_path is that directory; convert it with
  tf.lite.TFLiteConverter.from_saved_model). Needs representative data.

Data files: representative is a .npy of float inputs (N, *input shape without batch), the first
200 rows kept. test_data is a .npz with x_test and optionally y_test (class indices, targets or
1 = anomalous), or a .npy of inputs only. Both end up in the entry's data.npz.

Entries: <imported root>/<name>/<version>/ (version = hash of the model and its data) and
<name>/current naming the version `Zoo.get(name)` returns."""

from __future__ import annotations

import hashlib
import re
import shutil
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import cache
from .model import TaskKind, ZooModel
from .quality import quality
from .tasks import REPRESENTATIVE, TASKS

Array = npt.NDArray[Any]
RANDOM_INPUTS = 16
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class ModelImportError(ValueError):
    """The model or its data cannot become a zoo model; the message says why."""


class UnknownModelFormat(ModelImportError):
    """Neither an int8 .tflite, a Keras .keras file nor a SavedModel directory."""


class NotInt8Model(ModelImportError):
    """A .tflite whose input or output is not int8 (e.g. a float model)."""


class MissingRepresentativeData(ModelImportError):
    """A float model without representative inputs to calibrate its int8 quantization."""


class DataShapeMismatch(ModelImportError):
    """Representative or test data that does not fit the model's input (or its labels)."""


def import_model(
    root: Path,
    path: Path,
    task: str,
    *,
    name: str | None = None,
    kind: TaskKind | None = None,
    representative: Path | None = None,
    test_data: Path | None = None,
    reserved: set[str] | frozenset[str] = frozenset(),
) -> ZooModel:
    """Validate, convert as described above and store the model under `root`/<name>/."""
    kind = _kind(task, kind)
    name = name if name is not None else re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower())
    if not _NAME.fullmatch(name) or name in reserved:
        raise ModelImportError(
            f"cannot import as {name!r}: names are lower-case letters, digits, '.', '_', '-' "
            "and must not be a zoo model's name"
        )
    if not path.exists():
        raise FileNotFoundError(f"no such model file or directory: {path}")
    fmt = _format(path)
    convert = {"tflite": _tflite, "keras": _keras, "saved_model": _saved_model}[fmt]
    with cache.scratch(root / name) as folder:
        c = convert(path, kind, folder, representative, test_data)
        cache.write_data(folder, c.representative, c.x_test, c.y_test)
        version = _version(c.digest, c.representative, c.x_test, c.y_test)
        entry = root / name / version
        model = ZooModel(
            name=name,
            task=task,
            variant="import",
            version=version,
            kind=kind,
            model_path=entry / c.model_path.name,
            data_path=entry / cache.DATA,
            float_quality=c.float_quality,
            source="import",
        )
        cache.write_meta(folder, model, format=fmt, original=str(path.resolve()))
        cache.commit(folder, entry)
    cache.write_pointer(root / name / "current", version)
    return cache.read_entry(entry)


@dataclass(frozen=True, slots=True)
class _Converted:
    model_path: Path
    digest: str
    """Content hash of the model (architecture and weights)."""
    float_quality: float | None
    representative: Array
    x_test: Array
    """The test inputs, else the representative inputs."""
    y_test: Array | None


def _kind(task: str, kind: TaskKind | None) -> TaskKind:
    known = TASKS[task].kind if task in TASKS else None
    if known is None and task in {k.value for k in TaskKind}:
        known = TaskKind(task)
    if known is not None and kind not in (None, known):
        raise ModelImportError(f"task {task!r} is {known}, not {kind}")
    if known is not None:
        return known
    if kind is None:
        raise ModelImportError(
            f"{task!r} is not a zoo task ({', '.join(TASKS)}): say which kind of task it is "
            f"({', '.join(TaskKind)})"
        )
    return kind


def _format(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "saved_model"
    else:
        with path.open("rb") as file:
            head = file.read(8)
        if head[4:8] == b"TFL3":
            return "tflite"
        if path.suffix == ".keras" and zipfile.is_zipfile(path):
            return "keras"
    raise UnknownModelFormat(
        f"{path} is neither a .tflite flatbuffer, a Keras .keras file nor a SavedModel directory"
    )


def _tflite(
    path: Path, kind: TaskKind, folder: Path, representative: Path | None, test_data: Path | None
) -> _Converted:
    interpreter = _interpreter(path.read_bytes())
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    _single(path, len(inputs), len(outputs))
    (given,), (produced,) = inputs, outputs
    if given["dtype"] != np.int8 or produced["dtype"] != np.int8:
        raise NotInt8Model(
            f"{path}: input {np.dtype(given['dtype'])}, output {np.dtype(produced['dtype'])}; "
            "only full-integer int8 .tflite models are imported as they are: import the float "
            "model (.keras or SavedModel) with representative data instead"
        )
    shape = tuple(int(d) for d in given["shape"])
    x, y = _test_data(test_data, shape)
    rep = _representative(representative, shape) if representative else x
    if rep is None:
        scale, zero = given["quantization"]
        q = np.random.default_rng(0).integers(-128, 128, (RANDOM_INPUTS, *shape[1:]))
        rep = ((q - zero) * scale).astype(np.float32)
    quality_ = None
    if x is not None and y is not None:
        quality_ = quality(kind, x, y, _run_int8(interpreter, x))
    model_path = folder / "model.tflite"
    shutil.copyfile(path, model_path)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    return _Converted(model_path, digest, quality_, rep, rep if x is None else x, y)


def _keras(
    path: Path, kind: TaskKind, folder: Path, representative: Path | None, test_data: Path | None
) -> _Converted:
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise ModelImportError(f"{path}: cannot load the Keras model: {e}") from e
    _single(path, len(model.inputs), len(model.outputs))
    shape = tuple(model.inputs[0].shape)
    rep = _representative(representative, shape, path)
    x, y = _test_data(test_data, shape)
    quality_ = None
    if x is not None and y is not None:
        batch = 1 if shape[0] == 1 else 256
        quality_ = quality(kind, x, y, model.predict(x, batch_size=batch, verbose=0))
    if shape[0] is None:
        model = _static_batch(path, model)
    elif shape[0] != 1:
        raise ModelImportError(f"{path}: batch size {shape[0]}; the zoo needs 1 (or dynamic)")
    model_path = folder / "model.keras"
    model.save(model_path)
    digest = cache.keras_digest(model)
    return _Converted(model_path, digest, quality_, rep, rep if x is None else x, y)


def _static_batch(path: Path, model: Any) -> Any:
    import keras

    spec = model.inputs[0]
    inputs = keras.Input(tuple(spec.shape[1:]), batch_size=1, dtype=spec.dtype, name="input")
    try:
        clone = keras.models.clone_model(model, input_tensors=inputs)
    except Exception as e:
        raise ModelImportError(
            f"{path}: cannot rebuild the model with a static batch of 1 ({e}); save it with "
            "keras.Input(shape, batch_size=1)"
        ) from e
    clone.set_weights(model.get_weights())
    return clone


def _saved_model(
    path: Path, kind: TaskKind, folder: Path, representative: Path | None, test_data: Path | None
) -> _Converted:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        serving = loaded.signatures["serving_default"]
    except Exception as e:
        raise ModelImportError(f"{path}: cannot load a serving_default signature: {e}") from e
    _, specs = serving.structured_input_signature
    _single(path, len(specs), len(serving.structured_outputs))
    ((input_name, spec),) = specs.items()
    (output_name,) = serving.structured_outputs
    shape = tuple(spec.shape.as_list())
    rep = _representative(representative, shape, path)
    x, y = _test_data(test_data, shape)

    def call(inputs: Any) -> Any:
        return serving(**{input_name: inputs})[output_name]

    quality_ = None
    if x is not None and y is not None:
        batches = [x] if shape[0] is None else np.split(x, len(x))
        predictions = np.concatenate([np.asarray(call(tf.constant(b))) for b in batches])
        quality_ = quality(kind, x, y, predictions)
    batch_one = tf.TensorSpec((1, *shape[1:]), spec.dtype, name=input_name)
    module = tf.Module()
    module.source = loaded  # keeps the variables tracked
    module.serve = tf.function(
        lambda inputs: {output_name: call(inputs)}, input_signature=[batch_one]
    )
    model_path = folder / "saved_model"
    tf.saved_model.save(module, str(model_path), signatures={"serving_default": module.serve})
    digest = hashlib.sha256()
    for file in sorted(f for f in model_path.rglob("*") if f.is_file()):
        digest.update(str(file.relative_to(model_path)).encode() + file.read_bytes())
    return _Converted(model_path, digest.hexdigest(), quality_, rep, rep if x is None else x, y)


def _single(path: Path, inputs: int, outputs: int) -> None:
    if inputs != 1 or outputs != 1:
        raise ModelImportError(
            f"{path}: {inputs} inputs and {outputs} outputs; the zoo takes one of each"
        )


def _representative(
    given: Path | None, shape: tuple[int | None, ...], model: Path | None = None
) -> Array:
    if given is None:
        raise MissingRepresentativeData(
            f"{model}: a float model needs representative inputs (.npy, shape (N, "
            f"{', '.join(map(str, shape[1:]))})) to be quantized to int8"
        )
    data = _inputs(np.load(given, allow_pickle=False), shape, given)
    return data[:REPRESENTATIVE]


def _test_data(
    given: Path | None, shape: tuple[int | None, ...]
) -> tuple[Array | None, Array | None]:
    if given is None:
        return None, None
    if given.suffix == ".npy":
        return _inputs(np.load(given, allow_pickle=False), shape, given), None
    with np.load(given, allow_pickle=False) as archive:
        if "x_test" not in archive:
            raise DataShapeMismatch(f"{given}: no x_test array (has {', '.join(archive)})")
        x = _inputs(archive["x_test"], shape, given)
        y = archive.get("y_test")
    if y is not None and len(y) != len(x):
        raise DataShapeMismatch(f"{given}: {len(x)} inputs but {len(y)} labels")
    return x, y


def _inputs(data: Array, shape: tuple[int | None, ...], source: Path) -> Array:
    expected = tuple(shape[1:])
    if data.ndim != len(shape) or tuple(data.shape[1:]) != expected or len(data) == 0:
        raise DataShapeMismatch(
            f"{source}: shape {data.shape} does not match the model input: expected "
            f"(N, {', '.join(map(str, expected))})"
        )
    return data.astype(np.float32)


def _interpreter(model: bytes) -> Any:
    """The desktop TFLite interpreter (builtin kernels, no XNNPACK delegate)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"\s*Warning: tf\.lite\.Interpreter is deprecated", UserWarning
        )
        interpreter = tf.lite.Interpreter(
            model_content=model,
            experimental_op_resolver_type=(
                tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        )
    interpreter.allocate_tensors()
    return interpreter


def _run_int8(interpreter: Any, x: Array) -> Array:
    """Quantize each input, invoke, dequantize the output."""
    (given,), (produced,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero = given["quantization"]
    out_scale, out_zero = produced["quantization"]
    outputs = []
    for row in x:
        q = np.clip(np.round(row / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(given["index"], q[None])
        interpreter.invoke()
        result = interpreter.get_tensor(produced["index"]).astype(np.float32)
        outputs.append((result[0] - out_zero) * out_scale)
    return np.stack(outputs)


def _version(model_digest: str, *arrays: Array | None) -> str:
    """Hash of the model and its data (representative data shapes the int8 model, so new data
    makes a new version)."""
    digest = hashlib.sha256(model_digest.encode())
    for array in arrays:
        if array is not None:
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:12]
