"""The native backend: an int8 .tflite becomes C99 (weights as const data, a static memory
plan, a small runtime of int8 kernels reproducing TFLite-Micro's integer results) and, per
Cortex-M core, a position-independent module with a header the firmware loads and calls.

    program = compile_tflite(tflite_bytes)          # read, lower, plan, emit C
    host = build_host(program, folder)              # gcc shared object, host.invoke(x)
    module = build_module(program, "cortex-m4f", folder)   # flat image, module.image

A device runs a core's modules when it reports that core's runtime, runtime_for(core): one per
ABI (native-armv6m, native-armv7m, native-armv7em-hardfp, native-armv8m-main-hardfp).
"""

from .build import (
    CORES,
    RUNTIME_PREFIX,
    STATE_BYTES,
    BuildError,
    Core,
    HostModel,
    Module,
    absolute_relocations,
    build_host,
    build_module,
    is_native,
    relocations,
    runtime_for,
    source_digest,
    toolchain_available,
)
from .emit import Program, TensorSpecC, compile_graph
from .graph import SUPPORTED_OPS, Graph, UnsupportedModel, macs, read_tflite
from .plan import Buffer, MemoryPlan, plan_memory


def compile_tflite(tflite: bytes, name: str = "model") -> Program:
    """Read an int8 .tflite and emit its C program (raises UnsupportedModel)."""
    return compile_graph(read_tflite(tflite), name)


__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_exported_members.py checks)
    "Buffer",
    "BuildError",
    "CORES",
    "Core",
    "Graph",
    "HostModel",
    "MemoryPlan",
    "Module",
    "Program",
    "RUNTIME_PREFIX",
    "STATE_BYTES",
    "SUPPORTED_OPS",
    "TensorSpecC",
    "UnsupportedModel",
    "absolute_relocations",
    "build_host",
    "build_module",
    "compile_graph",
    "compile_tflite",
    "is_native",
    "macs",
    "plan_memory",
    "read_tflite",
    "relocations",
    "runtime_for",
    "source_digest",
    "toolchain_available",
]
