"""The pipeline and the compile service with the native backend: a class's native runtime gets
a signed package whose payload is the module image, proven bit for bit against TFLite-Micro
(its golden vectors are TFLite-Micro's outputs), smaller in RAM than the TFLite-Micro
artifact; a class without a native runtime, or a model the backend cannot compile, says why."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lwm2m_mlaas.compiler import Measured, NoFit, fit, load_catalogue, quantize, verify_package
from lwm2m_mlaas.compiler.backends.native import CORES, STATE_BYTES, runtime_for
from lwm2m_mlaas.compiler.native import NativeModel, NativeRefusal, lower
from lwm2m_mlaas.compiler.service import CompileService, Layout, UnknownTarget
from lwm2m_mlaas.compiler.signing import PUBLIC_KEY_FILE
from lwm2m_mlaas.compiler.verify import run_tflm
from lwm2m_mlaas.core.artifact import StoredCompile
from lwm2m_mlaas.store import Store
from lwm2m_mlaas.zoo.model import ZooModel

pytestmark = pytest.mark.slow

CLASS = "mps2-an385"
TASKS = ("sine", "digits")
MAGIC = 0x314E4C4D  # "MLN1", native_module.h
Compiles = dict[tuple[str, str], StoredCompile]


def _compile_both(trained_zoo: Path, data_dir: Path) -> Compiles:
    """sine and digits for the Cortex-M3 class, with TFLite-Micro (its default) and natively."""
    shutil.copytree(trained_zoo, Layout(data_dir).zoo)

    async def run() -> Compiles:
        store = await Store.open(f"sqlite+aiosqlite:///{data_dir / 'mlaas.db'}")
        service = CompileService(store, data_dir, workers=2)
        try:
            jobs = [(task, backend) for task in TASKS for backend in ("tflm", "native")]
            outcomes = await asyncio.gather(*(service.compile(task, CLASS, None if b == "tflm"
                                                              else b) for task, b in jobs))
            return dict(zip(jobs, outcomes, strict=True))
        finally:
            await service.close()
            await store.close()

    return asyncio.run(run())


@pytest.mark.timeout(300)  # the zoo (when this test trains it first) and four compiles
def test_native_packages_for_a_native_class(trained_zoo: Path, tmp_path: Path) -> None:
    outcomes = _compile_both(trained_zoo, tmp_path)
    public_key = (Layout(tmp_path).keys / PUBLIC_KEY_FILE).read_bytes()
    for task in TASKS:
        tflm, native = outcomes[task, "tflm"], outcomes[task, "native"]
        assert tflm.backend == "tflm"
        assert native.backend == "native-armv7m" == runtime_for("cortex-m3")
        assert tflm.artifact is not None and native.artifact is not None, native.reason
        artifact = native.artifact
        assert (artifact.backend, artifact.device_class) == ("native-armv7m", CLASS)
        manifest, payload = verify_package(Path(artifact.path).read_bytes(), public_key)
        assert manifest.backend == "native-armv7m" and manifest.device_class == CLASS
        assert len(payload) == manifest.payload_size == artifact.model_bytes
        magic, abi, _header, entry, arena, _align, core = struct.unpack_from("<IHHIIII", payload)
        assert (magic, abi, entry, core) == (MAGIC, 1, 128, CORES["cortex-m3"].code)
        assert arena == manifest.arena_bytes == artifact.arena_bytes
        # the same variant, in less RAM: a static plan and no interpreter
        assert artifact.model == tflm.artifact.model, task
        assert artifact.arena_bytes < tflm.artifact.arena_bytes, task
        assert artifact.quality["ram_needed"] == artifact.arena_bytes + STATE_BYTES
        assert artifact.quality["ram_needed"] < tflm.artifact.quality["ram_needed"]
        assert artifact.quality["int8"] == pytest.approx(tflm.artifact.quality["int8"])
        assert artifact.quality["max_step_diff"] == 0
        assert artifact.quality["top1_agreement"] in (None, 1.0)

        # golden vectors: TFLite-Micro's outputs, for the same inputs
        reference, tflite = verify_package(Path(tflm.artifact.path).read_bytes(), public_key)
        assert manifest.golden and manifest.golden == reference.golden, task
        inputs = np.stack([np.frombuffer(g.input, np.int8).reshape(manifest.input.shape)
                           for g in manifest.golden])  # fmt: skip
        outputs = run_tflm(tflite, reference.arena_bytes, inputs)
        assert [o.tobytes() for o in outputs] == [g.output for g in manifest.golden], task


async def test_classes_without_a_native_runtime_refuse(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'mlaas.db'}")
    service = CompileService(store, tmp_path)
    try:
        nrf5340 = await service.compile("sine", "nrf5340", "native")
        assert nrf5340.artifact is None and nrf5340.backend == "native-armv8m-main-hardfp"
        assert nrf5340.reason == "nrf5340 has no native-armv8m-main-hardfp runtime (offers tflm)"
        wrong_abi = await service.compile("sine", "mps2-an386", "native-armv7m")
        assert wrong_abi.reason == ("mps2-an386 has no native-armv7m runtime "
                                    "(offers tflm, native-armv7em-hardfp)")  # fmt: skip
        with pytest.raises(UnknownTarget, match="no backend 'cuda'"):
            await service.compile("sine", "nrf5340", "cuda")
        assert service._pool is None  # refused before any worker starts
    finally:
        await service.close()
        await store.close()


def test_a_model_the_backend_cannot_compile_does_not_fit(
    keras_model: Callable[..., ZooModel],
) -> None:
    import keras

    def tanh(x: Any) -> Any:
        return keras.layers.Activation("tanh")(keras.layers.Dense(8)(x))

    q = quantize(keras_model("blobs-tanh", head=tanh, epochs=0))
    assert "TANH" in q.ops
    measured = Measured(q, arena_bytes=4096, model_bytes=q.model_bytes, tries=0)
    refused = lower(measured, "cortex-m4f")
    assert isinstance(refused, NativeRefusal) and "TANH" in refused.reason
    nrf52840 = load_catalogue()["nrf52840"]
    no_fit = fit([refused], nrf52840, "native-armv7em-hardfp")
    assert isinstance(no_fit, NoFit)
    assert no_fit.reason.startswith("blobs-tanh has no native module: operator")
    assert "TANH is not supported by the native backend" in no_fit.reason


def test_fit_counts_the_module_arena_and_image(blobs_large: Measured) -> None:
    native = lower(blobs_large, "cortex-m4f")
    assert isinstance(native, NativeModel) and native.runtime == "native-armv7em-hardfp"
    nrf52840 = load_catalogue()["nrf52840"]
    fitted = fit([native], nrf52840, native.runtime)
    assert not isinstance(fitted, NoFit)
    assert (fitted.backend, fitted.arena_bytes) == (native.runtime, native.arena_bytes)
    assert fitted.ram_needed == native.arena_bytes + STATE_BYTES
    assert fitted.payload_bytes == len(native.image)
    tiny = dataclasses.replace(nrf52840, name="tiny", ml_ram_bytes=native.arena_bytes)
    short = fit([native], tiny, native.runtime)
    assert isinstance(short, NoFit) and "arena + stack), tiny offers" in short.reason
    with pytest.raises(TypeError):  # a module is no TFLite-Micro candidate, nor the reverse
        fit([native], nrf52840)
    with pytest.raises(TypeError):
        fit([blobs_large], nrf52840, native.runtime)
