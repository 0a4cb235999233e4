"""The compiler's version: part of every artifact's cache key, so a new converter or
TFLite-Micro build recompiles instead of reusing artifacts it might no longer reproduce."""

from __future__ import annotations

from importlib import metadata

COMPILER_REVISION = 1
"""Bump when the compiler's own output changes (manifest, quantization recipe, ...)."""


def _version(*distributions: str) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "none"


COMPILER_VERSION = (
    f"{COMPILER_REVISION}+tf{_version('tensorflow-cpu', 'tensorflow')}"
    f"+tflm{_version('tflite-micro')}"
)
