"""TensorFlow's chatter kept off a worker's stderr; what else the job writes there is kept."""

from __future__ import annotations

import os

import pytest

from lwm2m_mlaas.compiler.chatter import chatter_filtered, is_chatter, without_chatter

CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796595078.953446   11014 port.cc:153] oneDNN custom operations are on.",
    "W1023 12:01:02.345678   4242 tf_tfl_flatbuffer_helpers.cc:365] Ignored output_format.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow",
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
]
KEPT = [
    "E0000 00:00:1796595078.953446   11014 converter.cc:12] conversion failed",
    "Traceback (most recent call last):",
    "UserWarning: something worth reading",
]


def _write(lines: list[str]) -> None:
    os.write(2, "".join(f"{line}\n" for line in lines).encode())


def test_chatter_is_recognised() -> None:
    assert all(is_chatter(line) for line in CHATTER)
    assert not any(is_chatter(line) for line in KEPT)


def test_a_job_keeps_what_is_not_chatter(capfd: pytest.CaptureFixture[str]) -> None:
    @without_chatter
    def job(n: int) -> int:
        _write(CHATTER + KEPT)
        return n + 1

    assert job(1) == 2
    assert capfd.readouterr().err.splitlines() == KEPT


def test_a_failed_job_shows_everything(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), chatter_filtered():
        _write(CHATTER)
        raise RuntimeError("converter")
    assert capfd.readouterr().err.splitlines() == CHATTER
