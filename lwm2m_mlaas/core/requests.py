"""Downlink requests (server to device) and their typed outcomes. Pure values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .content_format import ContentFormat
from .errors import InvalidRequest, ResponseCode
from .linkformat import Link
from .nodes import Node
from .paths import Lwm2mPath

WRITE_ATTRIBUTES = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "edge", "con", "hqmax")
_INTEGER_ATTRIBUTES = frozenset({"pmin", "pmax", "epmin", "epmax", "hqmax"})
_FLAG_ATTRIBUTES = frozenset({"edge", "con"})


def parse_attributes(pairs: Iterable[tuple[str, str | None]]) -> dict[str, str | None]:
    """Write-Attributes notification attributes (LwM2M 1.1 Core 5.1.2); an empty or missing
    value unsets one. InvalidRequest for unknown names or malformed values."""
    attributes: dict[str, str | None] = {}
    for name, raw in pairs:
        if name not in WRITE_ATTRIBUTES:
            known = ", ".join(WRITE_ATTRIBUTES)
            raise InvalidRequest(f"unknown attribute {name!r}; one of {known}")
        if name in attributes:
            raise InvalidRequest(f"attribute {name!r} given twice")
        value = raw or None
        if value is not None:
            if name in _INTEGER_ATTRIBUTES:
                ok = value.isascii() and value.isdigit()
            elif name in _FLAG_ATTRIBUTES:
                ok = value in ("0", "1")
            else:
                ok = _number(value)
            if not ok:
                raise InvalidRequest(f"attribute {name}={value!r} is not a valid value")
        attributes[name] = value
    if not attributes:
        raise InvalidRequest("no attribute to write (e.g. ?pmin=10&pmax=60)")
    return attributes


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.strip() == text
    except ValueError:
        return False


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    DISCOVER = "discover"
    CREATE = "create"
    DELETE = "delete"
    WRITE_ATTRIBUTES = "write-attributes"
    OBSERVE = "observe"
    READ_COMPOSITE = "read-composite"
    WRITE_COMPOSITE = "write-composite"
    OBSERVE_COMPOSITE = "observe-composite"


@dataclass(frozen=True, slots=True)
class DownlinkRequest:
    operation: Operation
    path: Lwm2mPath
    content_format: ContentFormat | None = None
    """Accept format for reads and observes; payload format for writes and creates."""
    node: Node | None = None
    """Value to write or create (encoded with `content_format` when sent)."""
    payload: bytes | None = None
    """Pre-encoded payload; takes precedence over `node`."""
    replace: bool = True
    """Write: PUT (replace) when true, POST (partial update) when false."""
    arguments: str = ""
    """Execute arguments, e.g. "0='a',1"."""
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    """Write-Attributes notification attributes; None removes an attribute."""
    paths: tuple[Lwm2mPath, ...] = ()
    """Read-Composite targets."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    def to_json(self) -> dict[str, Any]:
        """Persistable form; a `node` must already be encoded into `payload`."""
        return {
            "operation": self.operation.value,
            "path": str(self.path),
            "content_format": None if self.content_format is None else int(self.content_format),
            "payload": None if self.payload is None else self.payload.hex(),
            "replace": self.replace,
            "arguments": self.arguments,
            "attributes": dict(self.attributes),
            "paths": [str(p) for p in self.paths],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DownlinkRequest:
        fmt = data.get("content_format")
        payload = data.get("payload")
        return cls(
            operation=Operation(data["operation"]),
            path=Lwm2mPath.parse(data["path"]),
            content_format=None if fmt is None else ContentFormat(fmt),
            payload=None if payload is None else bytes.fromhex(payload),
            replace=bool(data.get("replace", True)),
            arguments=data.get("arguments", ""),
            attributes=data.get("attributes", {}),
            paths=tuple(Lwm2mPath.parse(p) for p in data.get("paths", [])),
        )


@dataclass(frozen=True, slots=True)
class Response:
    """The outcome of a downlink request: the device's answer, a timeout, or a queued request."""

    code: ResponseCode
    node: Node | None = None
    nodes: Mapping[Lwm2mPath, Node] | None = None
    """Read-Composite content."""
    links: tuple[Link, ...] | None = None
    """Discover content."""
    payload: bytes = b""
    content_format: ContentFormat | int | None = None
    error: str | None = None
    """Diagnostic payload of an error answer, or why no answer came."""
    timed_out: bool = False
    queued: int | None = None
    """Id of the stored request when the device sleeps (queue mode)."""
    location: str | None = None
    """Location-Path of a Create answer, e.g. '/32100/1'."""

    @property
    def success(self) -> bool:
        return self.code.is_success

    @classmethod
    def timeout(cls) -> Response:
        return cls(ResponseCode.GATEWAY_TIMEOUT, error="Request timeout", timed_out=True)


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    """A downlink request kept for a sleeping device (queue mode)."""

    id: int
    endpoint: str
    request: DownlinkRequest
    status: str
    """'pending', 'done' or 'failed'."""
    response_code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SentValue:
    """The last value a device sent (Send, /dp) at one path: its SenML CBOR record(s), and
    when it arrived (seconds since the epoch)."""

    endpoint: str
    path: Lwm2mPath
    payload: bytes
    at: float


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """An established observation, kept so it survives a restart."""

    id: int
    registration_id: str
    path: Lwm2mPath
    content_format: int | None
    token: str
    paths: tuple[Lwm2mPath, ...] = ()
    """An Observe-Composite's paths (`path` is then the root)."""
