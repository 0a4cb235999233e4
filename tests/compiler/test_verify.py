"""Stage 5: int8 quality, TFLite-Micro vs the desktop interpreter, golden vectors."""

from __future__ import annotations

import numpy as np
import pytest

from lwm2m_mlaas.compiler import TOLERANCE_STEPS, Measured, Verified, verify
from lwm2m_mlaas.compiler.verify import GOLDEN_COUNT, run_tflm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def verified(
    blobs_small: Measured, blobs_large: Measured, mlperf_measured: dict[str, Measured]
) -> dict[str, Verified]:
    return {m.name: verify(m) for m in (blobs_small, blobs_large, *mlperf_measured.values())}


def test_int8_quality_stays_within_two_points_of_float(verified: dict[str, Verified]) -> None:
    for name in ("blobs-s", "blobs-l"):
        v = verified[name]
        assert v.float_quality is not None and v.float_quality > 0.9
        assert v.quality is not None and v.quality_delta is not None
        assert v.quality_delta == pytest.approx(v.quality - v.float_quality)
        assert abs(v.quality_delta) <= 0.02
        assert v.samples == 300


def test_tflm_matches_the_desktop_interpreter_within_tolerance(
    verified: dict[str, Verified],
) -> None:
    for v in verified.values():
        assert 0 <= v.max_step_diff <= TOLERANCE_STEPS
        if v.measured.quantized.model.kind == "classification":
            assert v.top1_agreement is not None and v.top1_agreement >= 0.99
        else:
            assert v.top1_agreement is None
    assert verified["ad"].quality is None  # no labels shipped for the MLPerf inputs


def test_golden_vectors_are_reproduced_exactly_by_a_fresh_interpreter(
    verified: dict[str, Verified],
) -> None:
    for v in verified.values():
        q = v.measured.quantized
        assert len(v.golden) == GOLDEN_COUNT
        inputs = np.stack(
            [np.frombuffer(g.input, np.int8).reshape(q.input.shape) for g in v.golden]
        )
        outputs = run_tflm(q.tflite, v.measured.arena_bytes, inputs)
        assert [o.tobytes() for o in outputs] == [g.output for g in v.golden]
        assert all(len(g.output) == q.output.size for g in v.golden)
