"""The ML slot's runtime and data: TFLite-Micro in worker processes (the MLPerf Tiny KWS model,
golden vectors made here with TFLite-Micro), sensor inputs per task, and what outputs mean."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from tflite_micro import runtime

from lwm2m_mlaas.compiler.manifest import GoldenVector, Manifest, TensorSpec
from lwm2m_mlaas.compiler.verify import run_tflm
from lwm2m_mlaas.sim.ml import MlRuntime, dequantize, interpret, quantize, sensor_input
from tests.helpers import MLPERF_TINY

KWS = MLPERF_TINY / "kws_ref_model.tflite"
ARENA = 24_272
"""KWS arena the compiler measures."""


def spec(details: dict[str, Any]) -> TensorSpec:
    q = details["quantization_parameters"]
    shape = tuple(int(d) for d in details["shape"])
    return TensorSpec(shape, "int8", float(q["scales"][0]), int(q["zero_points"][0]))


@pytest.fixture(scope="module")
def kws() -> tuple[Manifest, bytes]:
    payload = KWS.read_bytes()
    interpreter = runtime.Interpreter.from_bytes(payload, arena_size=ARENA)
    input_spec, output_spec = (
        spec(interpreter.get_input_details(0)),
        spec(interpreter.get_output_details(0)),
    )
    inputs = np.random.default_rng(1).integers(-128, 128, (3, *input_spec.shape), dtype=np.int8)
    outputs = run_tflm(payload, ARENA, inputs)
    golden = tuple(
        GoldenVector(i.tobytes(), o.tobytes()) for i, o in zip(inputs, outputs, strict=True)
    )
    manifest = Manifest(
        model="kws", version="1", task="keyword-spotting", kind="classification",
        variant="import", backend="tflm", device_class="mps2-an386",
        payload_size=len(payload), payload_sha256=hashlib.sha256(payload).digest(),
        arena_bytes=ARENA, input=input_spec, output=output_spec,
        golden=golden, compiler="test",
    )  # fmt: skip
    return manifest, payload


@pytest.fixture(scope="module")
def ml() -> Iterator[MlRuntime]:
    ml = MlRuntime(workers=1)
    yield ml
    ml.close()


def test_shared_runtime_is_one_per_process() -> None:
    assert MlRuntime.shared() is MlRuntime.shared()


async def test_check_reproduces_golden_vectors(ml: MlRuntime, kws: tuple[Manifest, bytes]) -> None:
    manifest, payload = kws
    assert await ml.check("kws", payload, manifest)
    wrong = replace(manifest.golden[0], output=bytes(len(manifest.golden[0].output)))
    assert not await ml.check("kws-x", payload, replace(manifest, golden=(wrong,)))
    assert not await ml.check("kws-y", b"not a model", manifest)


async def test_a_crashed_worker_fails_the_check_and_the_pool_recovers(
    kws: tuple[Manifest, bytes],
) -> None:
    manifest, payload = kws
    ml = MlRuntime(workers=1)
    try:  # TFLite-Micro segfaults with this arena for KWS
        assert not await ml.check("kws-crash", payload, replace(manifest, arena_bytes=8_000))
        assert await ml.check("kws-after", payload, manifest)
    finally:
        ml.close()


async def test_infer_matches_tflite_micro_and_sends_the_model_once(
    ml: MlRuntime, kws: tuple[Manifest, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, payload = kws
    sent: list[bool] = []
    call = ml._call

    async def recording(fn: Any, *args: Any) -> Any:
        sent.append(any(isinstance(a, tuple) for a in args))
        return await call(fn, *args)

    monkeypatch.setattr(ml, "_call", recording)
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = rng.integers(-128, 128, manifest.input.shape, dtype=np.int8)
        output, latency = await ml.infer("kws-fresh", payload, ARENA, x.tobytes())
        assert output == run_tflm(payload, ARENA, x[None])[0].tobytes()
        assert latency > 0
    # the one worker missed once, got the model, and kept it
    assert sent == [False, True, False, False]


@pytest.mark.parametrize(
    ("task", "shape", "low", "high"),
    [
        ("gesture", (1, 64, 1, 3), -5.0, 5.0),  # accelerometer, g
        ("anomaly", (1, 128), 0.0, 1.5),  # log spectrum scaled to about 0..1
        ("digits", (1, 8, 8, 1), 0.0, 1.0),
        ("sine", (1, 1), 0.0, 2 * np.pi),
        ("keyword-spotting", (1, 49, 10, 1), -200.0, 200.0),  # noise around the zero point
        ("gesture", (1, 10), -200.0, 200.0),  # a shape the task's data does not have
    ],
)
def test_sensor_input_like_the_task_data(
    kws: tuple[Manifest, bytes], task: str, shape: tuple[int, ...], low: float, high: float
) -> None:
    manifest = replace(kws[0], task=task, input=replace(kws[0].input, shape=shape))
    rng = np.random.default_rng(3)
    samples = np.stack([sensor_input(manifest, rng) for _ in range(20)])
    assert samples.shape == (20, *shape) and samples.dtype == np.float32
    assert low <= samples.min() and samples.max() <= high
    assert samples.std() > 0


def test_quantize_rounds_and_clips() -> None:
    s = TensorSpec((4,), "int8", 0.5, -10)
    data = quantize(np.array([0.0, 1.26, -1000.0, 1000.0]), s)
    assert np.frombuffer(data, np.int8).tolist() == [-10, -7, -128, 127]
    assert dequantize(data, s).tolist() == [0.0, 1.5, -59.0, 68.5]


def test_interpret_each_kind(kws: tuple[Manifest, bytes]) -> None:
    base = kws[0]
    probabilities = TensorSpec((1, 3), "int8", 1 / 256, -128)
    classifier = replace(base, output=probabilities, labels=("wing", "ring", "slope"))
    out = quantize(np.array([0.1, 0.7, 0.2]), probabilities)
    label, score = interpret(classifier, np.zeros(1), out)
    assert (label, round(score, 2)) == ("ring", 0.7)
    assert interpret(replace(classifier, labels=()), np.zeros(1), out)[0] == "1"

    values = TensorSpec((1, 4), "int8", 0.01, 0)
    anomaly = replace(base, kind="anomaly", output=values, threshold=0.05)
    x = np.array([0.5, 0.5, 0.5, 0.5])
    assert interpret(anomaly, x, quantize(x, values)) == ("normal", 0.0)
    verdict, error = interpret(anomaly, x, quantize(x - 0.5, values))
    assert (verdict, round(error, 6)) == ("anomalous", 0.25)
    assert interpret(replace(anomaly, threshold=None), x, quantize(x - 0.5, values))[0] == "0.25"

    scalar = TensorSpec((1, 1), "int8", 0.01, 0)
    regression = replace(base, kind="regression", output=scalar)
    value, number = interpret(regression, np.zeros(1), quantize(np.array([0.84]), scalar))
    assert (value, round(number, 6)) == ("0.84", 0.84)
