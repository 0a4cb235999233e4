"""Stage 4: the most accurate variant that fits, or the reason none does."""

from __future__ import annotations

import dataclasses

import pytest

from lwm2m_mlaas.compiler import DeviceClass, Fitted, Measured, NoFit, fit, load_catalogue

pytestmark = pytest.mark.slow

KB = 1024


def _with(m: Measured, *, arena: int | None = None, quality: float | None = None) -> Measured:
    model = dataclasses.replace(m.quantized.model, float_quality=quality)
    return dataclasses.replace(
        m,
        quantized=dataclasses.replace(m.quantized, model=model),
        arena_bytes=m.arena_bytes if arena is None else arena,
    )


def _class(
    ram_kb: float,
    flash_kb: float = 256,
    ops: frozenset[str] | None = None,
    runtimes: tuple[str, ...] = ("tflm",),
) -> DeviceClass:
    base = load_catalogue()["nrf52840"]
    return dataclasses.replace(
        base,
        name="test-class",
        ml_ram_bytes=int(ram_kb * KB),
        ml_flash_bytes=int(flash_kb * KB),
        runtimes=runtimes,
        ops=base.ops if ops is None else ops,
    )


def test_the_most_accurate_fitting_variant_wins(
    blobs_small: Measured, blobs_large: Measured
) -> None:
    small, large = _with(blobs_small, quality=0.90), _with(blobs_large, quality=0.95)
    chosen = fit([small, large], _class(96))
    assert isinstance(chosen, Fitted) and chosen.measured is large
    assert chosen.ram_needed == chosen.device_class.ram_needed(large.arena_bytes)
    # a class whose RAM holds only the small one
    huge = _with(blobs_large, arena=40 * KB, quality=0.95)
    chosen = fit([huge, small], _class(16))
    assert isinstance(chosen, Fitted) and chosen.measured is small
    # quality unknown ranks last; equal quality prefers the smaller arena
    unknown_quality = fit([_with(blobs_large), small], _class(96))
    assert isinstance(unknown_quality, Fitted) and unknown_quality.measured is small
    equal = fit([_with(blobs_large, quality=0.9), small], _class(96))
    assert isinstance(equal, Fitted) and equal.measured is small


def test_no_fit_names_the_smallest_shortfall(blobs_small: Measured, blobs_large: Measured) -> None:
    a = _with(blobs_small, arena=10 * KB, quality=0.9)
    b = _with(blobs_large, arena=20 * KB, quality=0.95)
    result = fit([b, a], _class(8))
    assert isinstance(result, NoFit)
    assert result.reason == (
        "blobs-s needs 13.0 KB RAM (10.0 KB arena + headroom and "
        "interpreter), test-class offers 8.0 KB"
    )
    assert [name for name, _ in result.reasons] == ["blobs-l", "blobs-s"]
    flash = fit([a], _class(96, flash_kb=1))
    assert isinstance(flash, NoFit) and "flash for the package, test-class offers 1.0 KB" in (
        flash.reason
    )


def test_no_fit_for_missing_ops_and_runtimes(mlperf_measured: dict[str, Measured]) -> None:
    samd21 = load_catalogue()["samd21"]
    kws = fit([mlperf_measured["kws"]], samd21)
    assert isinstance(kws, NoFit)
    assert kws.reason == (
        "kws ops AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D not supported by samd21"
    )
    # a size shortfall is closer to fitting than missing ops
    both = fit([mlperf_measured["kws"], mlperf_measured["ad"]], samd21)
    assert isinstance(both, NoFit) and both.reason.startswith("ad needs")
    ad = fit([mlperf_measured["ad"]], _class(96, ops=frozenset({"SOFTMAX"})))
    assert isinstance(ad, NoFit)
    assert ad.reason == "ad op FULLY_CONNECTED not supported by test-class"
    native = fit([mlperf_measured["ad"]], _class(96, runtimes=("native-armv7em-hardfp",)))
    assert isinstance(native, NoFit) and "no tflm runtime" in native.reason
    assert isinstance(fit([], samd21), NoFit)
