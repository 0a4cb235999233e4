"""The device class catalogue and how devices are classified from what they report."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwm2m_mlaas.compiler.backends.native import runtime_for
from lwm2m_mlaas.compiler.targets import (
    CATALOGUE,
    Capabilities,
    CatalogueError,
    choose_backend,
    classify,
    load_catalogue,
)
from lwm2m_mlaas.sim import BOARDS

KB = 1024


def test_catalogue_has_the_boards_the_fleet_runs_on() -> None:
    catalogue = load_catalogue()
    expected = {
        "samd21": ("cortex-m0plus", 32),
        "nrf52840": ("cortex-m4f", 256),
        "stm32f746": ("cortex-m7", 320),
        "nrf5340": ("cortex-m33", 512),
        "mps2-an385": ("cortex-m3", 4096),
        "mps2-an386": ("cortex-m4f", 4096),
        "mps2-an500": ("cortex-m7", 4096),
        "mps2-an505": ("cortex-m33", 4096),
    }
    assert {n: (c.core, c.ram_bytes // KB) for n, c in catalogue.items()} == expected
    for device_class in catalogue.values():
        assert device_class.ml_ram_bytes < device_class.ram_bytes
        assert "tflm" in device_class.runtimes
        assert {"FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"} <= device_class.ops
    assert "CONV_2D" not in catalogue["samd21"].ops
    assert "CONV_2D" in catalogue["nrf52840"].ops


def test_headroom_is_added_to_the_arena() -> None:
    samd21 = load_catalogue()["samd21"]
    assert samd21.ram_needed(8 * KB) > 8 * KB
    assert samd21.ram_needed(8 * KB) <= samd21.ml_ram_bytes < samd21.ram_needed(10 * KB)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_simulated_board_classifies_as_its_class(board: str) -> None:
    profile = BOARDS[board]
    reported = Capabilities(profile.core, profile.ml_ram, profile.ml_flash, profile.runtimes)
    with_name = Capabilities(
        profile.core, profile.ml_ram, profile.ml_flash, profile.runtimes, board
    )
    found = classify(with_name)
    assert found is not None and found.name == board
    unnamed = classify(reported)
    assert unnamed is not None and unnamed.core == profile.core
    assert unnamed.ml_ram_bytes <= profile.ml_ram


def test_the_name_alone_is_not_trusted() -> None:
    # says stm32f746 but reports a Cortex-M4F with nRF52840 resources
    claimed = Capabilities("cortex-m4f", 96 * KB, 256 * KB, ("tflm",), "stm32f746")
    found = classify(claimed)
    assert found is not None and found.name == "nrf52840"
    # says mps2-an505 but has less ML RAM than that class offers
    short = Capabilities("cortex-m33", 200 * KB, 2048 * KB, ("tflm",), "mps2-an505")
    assert classify(short) is None


def test_unknown_cores_runtimes_and_tiny_devices_have_no_class() -> None:
    assert classify(Capabilities("cortex-a53", 1 << 30, 1 << 30)) is None
    assert classify(Capabilities("cortex-m4f", 1 << 20, 1 << 20, ("cmsis-nn-only",))) is None
    assert classify(Capabilities("cortex-m0plus", 8 * KB, 64 * KB)) is None


def test_native_runtimes_match_the_class_core(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    expected = {"cortex-m0plus": "native-armv6m", "cortex-m3": "native-armv7m",
                "cortex-m4f": "native-armv7em-hardfp", "cortex-m7": "native-armv7em-hardfp",
                "cortex-m33": "native-armv8m-main-hardfp"}  # fmt: skip
    assert {core: runtime_for(core) for core in expected} == expected
    for device_class in catalogue.values():
        native = device_class.native_runtime
        assert native is None or native == expected[device_class.core]
        assert device_class.preferred_backend == "tflm"  # every class has TFLite-Micro
    assert catalogue["mps2-an385"].native_runtime == "native-armv7m"
    assert catalogue["nrf5340"].native_runtime is None
    base = CATALOGUE.read_text()
    wrong_abi = tmp_path / "wrong.toml"
    wrong_abi.write_text(base.replace('runtimes = ["tflm", "native-armv7m"]',
                                      'runtimes = ["tflm", "native-armv7em-hardfp"]'))  # fmt: skip
    with pytest.raises(CatalogueError, match="mps2-an385: a cortex-m3 runs native-armv7m"):
        load_catalogue(wrong_abi)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(base.replace('runtimes = ["tflm"]\nops = "small"',
                                    'runtimes = ["tflm", "cmsis-nn"]\nops = "small"'))  # fmt: skip
    with pytest.raises(CatalogueError, match="samd21: unknown runtime 'cmsis-nn'"):
        load_catalogue(unknown)


def test_the_device_s_runtimes_choose_the_backend() -> None:
    catalogue = load_catalogue()
    an385, an505, nrf5340 = catalogue["mps2-an385"], catalogue["mps2-an505"], catalogue["nrf5340"]
    # native when the device runs the class's native runtime, else TFLite-Micro
    assert choose_backend(an385, ("tflm", "native-armv7m")) == "native-armv7m"
    assert choose_backend(an385, ("native-armv7m",)) == "native-armv7m"
    assert choose_backend(an385, ("tflm",)) == "tflm"
    assert choose_backend(an385, ("tflm", "native-armv7em-hardfp")) == "tflm"  # another ABI
    assert choose_backend(an505, ("native-armv8m-main-hardfp",)) == "native-armv8m-main-hardfp"
    assert choose_backend(nrf5340, ("tflm", "native-armv8m-main-hardfp")) == "tflm"
    assert choose_backend(nrf5340, ("native-armv8m-main-hardfp",)) is None
    # what the firmware stubs report classifies them, and chooses their native runtime
    stub = Capabilities("cortex-m3", 256 * KB, 1024 * KB, ("native-armv7m",), "mps2-an385")
    found = classify(stub)
    assert found is not None and found.name == "mps2-an385"
    assert choose_backend(found, stub.runtimes) == "native-armv7m"
    # backend names a compile accepts
    assert an385.backend_named(None) == "tflm"
    assert an385.backend_named("native") == "native-armv7m"
    assert nrf5340.backend_named("native") == "native-armv8m-main-hardfp"  # refused by fit()
    with pytest.raises(ValueError, match="no backend 'cuda'"):
        an385.backend_named("cuda")


def test_simulated_boards_report_only_tflite_micro() -> None:
    assert {profile.runtimes for profile in BOARDS.values()} == {("tflm",)}
