"""Stage 3: the arena found by bisection is (nearly) the smallest that works."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lwm2m_mlaas.compiler import Measured
from lwm2m_mlaas.compiler._arrays import load_data, sample_inputs
from lwm2m_mlaas.compiler.measure import _probe

pytestmark = pytest.mark.slow


def _runs(m: Measured, arena: int) -> bool:
    q = m.quantized
    x = sample_inputs(load_data(q.model.data_path), q.input, 1, representative=True)[0]
    with tempfile.TemporaryDirectory() as work:
        model, inputs = Path(work, "model.tflite"), Path(work, "input.bin")
        model.write_bytes(q.tflite)
        inputs.write_bytes(x.tobytes())
        return _probe(model, inputs, arena, q.output.size).ok


@pytest.mark.parametrize("key", ["kws", "ic", "ad"])
def test_mlperf_arena_is_the_smallest_that_works(
    mlperf_measured: dict[str, Measured], key: str
) -> None:
    m = mlperf_measured[key]
    assert m.arena_bytes % 16 == 0
    assert m.model_bytes == len(m.quantized.tflite)
    assert m.tries <= 8
    assert _runs(m, m.arena_bytes)
    assert not _runs(m, m.arena_bytes - 256)


def test_keras_model_arena(blobs_small: Measured, blobs_large: Measured) -> None:
    for m in (blobs_small, blobs_large):
        assert _runs(m, m.arena_bytes) and not _runs(m, m.arena_bytes - 256)
    assert blobs_small.arena_bytes < blobs_large.arena_bytes
    assert blobs_small.model_bytes < blobs_large.model_bytes
