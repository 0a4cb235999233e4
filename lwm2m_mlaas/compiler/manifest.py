"""The package manifest: what a device needs to know to check, place and run a model.

Encoded as a CBOR map with text keys (format version 1):

    format          1
    model, version, task, kind, variant    text: which zoo model this is
    backend         the runtime: "tflm" (payload: the .tflite) or a native runtime such as
                    "native-armv7m" (payload: the native backend's module image, its header at
                    offset 0)
    class           the device class it was compiled for
    payload_size    bytes of the payload
    payload_sha256  bstr (32)
    arena_bytes     the tensor arena to reserve (TFLite-Micro's, or the module's static plan)
    input, output   {"shape": [..], "dtype": "int8", "scale": float, "zero_point": int}
    golden          [[input bstr, output bstr], ...]: raw int8 tensors; the device must reproduce
                    each output exactly from its input
    labels          [text, ...] (classifiers; may be empty)
    threshold       float or null (anomaly: score above which an input is anomalous)
    compiler        the compiler version that made it

Pure: no TensorFlow, no TFLite-Micro, so devices and simulators can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

FORMAT_VERSION = 1
BACKEND = "tflm"
"""TensorFlow Lite for Microcontrollers: the runtime packages target unless the device class
and device run a native one (native-<ABI>, see compiler/backends/native)."""


class ManifestError(ValueError):
    """The bytes are not a manifest this code understands."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str
    """numpy name: 'int8', 'float32', ..."""
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    def to_cbor_value(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }

    @classmethod
    def from_cbor_value(cls, value: Any) -> TensorSpec:
        return cls(
            shape=tuple(int(d) for d in value["shape"]),
            dtype=str(value["dtype"]),
            scale=float(value["scale"]),
            zero_point=int(value["zero_point"]),
        )


@dataclass(frozen=True, slots=True)
class GoldenVector:
    """One input and the exact int8 output the package's runtime produced for it (raw tensor
    bytes)."""

    input: bytes = field(repr=False)
    output: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Manifest:
    model: str
    version: str
    task: str
    kind: str
    variant: str
    backend: str
    device_class: str
    payload_size: int
    payload_sha256: bytes
    arena_bytes: int
    input: TensorSpec
    output: TensorSpec
    golden: tuple[GoldenVector, ...]
    compiler: str
    labels: tuple[str, ...] = ()
    threshold: float | None = None
    format: int = FORMAT_VERSION

    def to_cbor(self) -> bytes:
        return cbor2.dumps(
            {
                "format": self.format,
                "model": self.model,
                "version": self.version,
                "task": self.task,
                "kind": self.kind,
                "variant": self.variant,
                "backend": self.backend,
                "class": self.device_class,
                "payload_size": self.payload_size,
                "payload_sha256": self.payload_sha256,
                "arena_bytes": self.arena_bytes,
                "input": self.input.to_cbor_value(),
                "output": self.output.to_cbor_value(),
                "golden": [[g.input, g.output] for g in self.golden],
                "labels": list(self.labels),
                "threshold": self.threshold,
                "compiler": self.compiler,
            }
        )

    @classmethod
    def from_cbor(cls, data: bytes) -> Manifest:
        try:
            value = cbor2.loads(data)
            if not isinstance(value, Mapping):
                raise ManifestError("manifest is not a CBOR map")
            if value.get("format") != FORMAT_VERSION:
                raise ManifestError(f"unsupported manifest format {value.get('format')!r}")
            threshold = value["threshold"]
            return cls(
                model=_text(value["model"]),
                version=_text(value["version"]),
                task=_text(value["task"]),
                kind=_text(value["kind"]),
                variant=_text(value["variant"]),
                backend=_text(value["backend"]),
                device_class=_text(value["class"]),
                payload_size=int(value["payload_size"]),
                payload_sha256=_bytes(value["payload_sha256"]),
                arena_bytes=int(value["arena_bytes"]),
                input=TensorSpec.from_cbor_value(value["input"]),
                output=TensorSpec.from_cbor_value(value["output"]),
                golden=tuple(GoldenVector(_bytes(i), _bytes(o)) for i, o in value["golden"]),
                labels=tuple(_text(label) for label in value["labels"]),
                threshold=None if threshold is None else float(threshold),
                compiler=_text(value["compiler"]),
            )
        except ManifestError:
            raise
        except (cbor2.CBORDecodeError, KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"malformed manifest: {e!r}") from e


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"expected text, got {type(value).__name__}")
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise ManifestError(f"expected a byte string, got {type(value).__name__}")
    return value
