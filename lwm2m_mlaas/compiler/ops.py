"""Stage 2: does the class's firmware register a kernel for every op of the model?"""

from __future__ import annotations

from .quantize import QuantizedModel
from .targets import DeviceClass


def check_ops(q: QuantizedModel, device_class: DeviceClass) -> tuple[str, ...]:
    """The model's op names the class lacks, sorted; empty when all are supported."""
    return tuple(sorted(set(q.ops) - device_class.ops))
