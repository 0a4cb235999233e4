"""compile_task: every stage chained, for a class that holds a variant and one that cannot."""

from __future__ import annotations

import dataclasses
import importlib
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from lwm2m_mlaas.compiler import (
    Artifact,
    Measured,
    NoFit,
    Signer,
    compile_measured,
    compile_task,
    estimate_package_bytes,
    load_catalogue,
    verify_package,
)
from lwm2m_mlaas.zoo.model import ZooModel

pytestmark = pytest.mark.slow


def test_compile_task_packages_the_best_fitting_variant(
    keras_model: Callable[..., ZooModel], blobs_large: Measured, tmp_path: Path
) -> None:
    small = keras_model("blobs-s", hidden=8)
    large = dataclasses.replace(keras_model("blobs-l", hidden=64), float_quality=1.0)
    signer = Signer(tmp_path / "keys")
    nrf = load_catalogue()["nrf52840"]
    artifact = compile_task([small, large], nrf, signer, tmp_path / "artifacts")
    assert isinstance(artifact, Artifact)
    assert (artifact.model, artifact.device_class, artifact.backend) == (
        "blobs-l",
        "nrf52840",
        "tflm",
    )
    assert artifact.package_path == tmp_path / "artifacts" / f"{artifact.id}.pkg"
    data = artifact.package_path.read_bytes()
    manifest, _ = verify_package(data, signer.public_key)
    assert (manifest.arena_bytes, len(data)) == (artifact.arena_bytes, artifact.package_bytes)
    assert artifact.arena_bytes == blobs_large.arena_bytes
    assert artifact.package_bytes <= estimate_package_bytes(blobs_large)
    assert artifact.ram_needed <= nrf.ml_ram_bytes
    assert artifact.quality is not None and artifact.quality > 0.9
    assert artifact.max_step_diff <= 16 and artifact.top1_agreement == 1.0
    assert pickle.loads(pickle.dumps(artifact)) == artifact


def test_compile_measured_gives_a_reason_when_nothing_fits(
    blobs_small: Measured, blobs_large: Measured, tmp_path: Path
) -> None:
    assert pickle.loads(pickle.dumps(blobs_small)) == blobs_small  # cacheable per variant
    tiny = dataclasses.replace(load_catalogue()["nrf52840"], name="tiny", ml_ram_bytes=2048)
    signer = pickle.loads(pickle.dumps(Signer(tmp_path / "keys")))
    no_fit = compile_measured([blobs_small, blobs_large], tiny, signer, tmp_path / "artifacts")
    assert isinstance(no_fit, NoFit) and "tiny offers 2.0 KB" in no_fit.reason
    assert no_fit.reason.startswith("blobs-s needs")
    assert not (tmp_path / "artifacts").exists()


def test_a_variant_tflite_micro_does_not_reproduce_gives_way_to_the_next(
    blobs_small: Measured, blobs_large: Measured, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    nrf = load_catalogue()["nrf52840"]
    verify_module = importlib.import_module("lwm2m_mlaas.compiler.verify")
    monkeypatch.setattr(verify_module, "TOLERANCE_STEPS", -1)  # no variant can pass
    no_fit = compile_measured([blobs_small, blobs_large], nrf, Signer(tmp_path / "keys"),
                              tmp_path / "artifacts")  # fmt: skip
    assert isinstance(no_fit, NoFit)
    rejected = [name for name, why in no_fit.reasons if "TFLite-Micro differs" in why]
    assert sorted(rejected) == ["blobs-l", "blobs-s"]  # both tried, best first, no exception
    assert "tolerance -1" in no_fit.reason and not (tmp_path / "artifacts").exists()
