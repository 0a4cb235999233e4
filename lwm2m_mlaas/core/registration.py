"""Registration interface semantics (LwM2M 1.1 TS Core 6.2, Transport 6.4): parsing and
validating Register / Update requests into typed values. Pure: no I/O."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .content_format import ContentFormat
from .errors import InvalidRequest, Lwm2mError, ResponseCode
from .linkformat import Link, format_link_format, registered_links

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
DEFAULT_LIFETIME = 86400
_ENDPOINT = re.compile(r"^[\x21-\x7e]{1,255}$")
_KNOWN_PARAMS = frozenset({"ep", "lt", "lwm2m", "b", "sms", "Q"})
_NONE: Mapping[str, str] = MappingProxyType({})


class UnsupportedVersion(Lwm2mError):
    code = ResponseCode.PRECONDITION_FAILED


def uri_host(host: str) -> str:
    """A host as a URI or 'host:port' carries it: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class RegistrationParams:
    """What a Register or Update request says; None where an Update leaves a value unchanged."""

    endpoint: str | None = None
    lifetime: int | None = None
    lwm2m_version: str | None = None
    binding: str | None = None
    queue_mode: bool | None = None
    sms: str | None = None
    object_links: tuple[Link, ...] | None = None
    additional_attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "additional_attributes", MappingProxyType(dict(self.additional_attributes))
        )


def split_query(query: Sequence[str]) -> dict[str, str]:
    """CoAP Uri-Query options ('ep=x', 'Q') into a dict; a repeated parameter is refused."""
    params: dict[str, str] = {}
    for item in query:
        name, _, value = item.partition("=")
        if not name:
            raise InvalidRequest(f"empty query parameter in {item!r}")
        if name in params:
            raise InvalidRequest(f"query parameter {name!r} given twice")
        params[name] = value
    return params


def _lifetime(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise InvalidRequest(f"lifetime lt={value!r} is not a non-negative integer")
    lifetime = int(value)
    if lifetime == 0 or lifetime > 0xFFFFFFFF:
        raise InvalidRequest(f"lifetime lt={value} out of range 1..4294967295")
    return lifetime


def _binding(value: str) -> tuple[str, bool]:
    letters = set(value)
    if not letters - {"Q"} or not letters <= set("USTNQ") or len(letters) != len(value):
        raise InvalidRequest(f"binding mode b={value!r} is not valid")
    return value.replace("Q", ""), "Q" in value


def _links(payload: bytes, content_format: int | None) -> tuple[Link, ...]:
    if content_format not in (None, ContentFormat.LINK):
        raise InvalidRequest(f"registration payload must be link-format (40), not {content_format}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"registration payload is not UTF-8: {exc}") from None
    return registered_links(text)


def parse_register(
    query: Sequence[str], payload: bytes, content_format: int | None = None
) -> RegistrationParams:
    """Validate a Register request (POST /rd?ep=..)."""
    params = split_query(query)
    endpoint = params.get("ep")
    if not endpoint:
        raise InvalidRequest("missing endpoint name (ep query parameter)")
    if not _ENDPOINT.match(endpoint):
        raise InvalidRequest(f"endpoint name {endpoint!r} has invalid characters or length")
    version = params.get("lwm2m", "1.0")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(f"LwM2M version {version!r} is not supported")
    binding, queue = _binding(params.get("b", "U"))
    if "Q" in params:
        if params["Q"]:
            raise InvalidRequest("the Q parameter takes no value")
        queue = True
    lifetime = _lifetime(params["lt"]) if "lt" in params else DEFAULT_LIFETIME
    return RegistrationParams(
        endpoint=endpoint,
        lifetime=lifetime,
        lwm2m_version=version,
        binding=binding,
        queue_mode=queue,
        sms=params.get("sms") or None,
        object_links=_links(payload, content_format),
        additional_attributes={k: v for k, v in params.items() if k not in _KNOWN_PARAMS},
    )


def parse_update(
    query: Sequence[str], payload: bytes, content_format: int | None = None
) -> RegistrationParams:
    """Validate an Update request (POST /rd/<id>); every parameter and the payload are optional."""
    params = split_query(query)
    binding, queue = _binding(params["b"]) if "b" in params else (None, None)
    if "Q" in params:
        queue = True
    return RegistrationParams(
        lifetime=_lifetime(params["lt"]) if "lt" in params else None,
        binding=binding,
        queue_mode=queue,
        sms=params.get("sms"),
        object_links=_links(payload, content_format) if payload else None,
        # some clients repeat lwm2m= (and ep=) in updates; they cannot change, so are ignored
        additional_attributes={k: v for k, v in params.items() if k not in _KNOWN_PARAMS},
    )


@dataclass(frozen=True, slots=True)
class Registration:
    """A registered LwM2M client as the server knows it."""

    id: str
    endpoint: str
    host: str
    port: int
    lifetime: int
    lwm2m_version: str
    binding: str
    queue_mode: bool
    object_links: tuple[Link, ...]
    registration_date: float
    """Epoch seconds."""
    last_update: float
    """Epoch seconds of the last Register or Update."""
    sms: str | None = None
    secure: bool = False
    additional_attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        attributes = self.additional_attributes
        object.__setattr__(self, "additional_attributes",
                           MappingProxyType(dict(attributes)) if attributes else _NONE)
        for name in ("host", "lwm2m_version", "binding"):  # shared by a fleet: kept once
            object.__setattr__(self, name, sys.intern(getattr(self, name)))

    @property
    def address(self) -> str:
        """'ip:port', with IPv6 addresses in brackets."""
        return f"{uri_host(self.host)}:{self.port}"

    @property
    def expires_at(self) -> float:
        return self.last_update + self.lifetime

    @property
    def root_path(self) -> str:
        """The alternate path from a link with rt="oma.lwm2m", else '/'."""
        for link in self.object_links:
            if link.attributes.get("rt") == "oma.lwm2m":
                return link.target.rstrip("/") + "/"
        return "/"

    def _object_path(self, link: Link) -> tuple[int, ...] | None:
        root = self.root_path
        if not link.target.startswith(root):
            return None
        parts = link.target[len(root) :].strip("/").split("/")
        if not parts or not all(p.isascii() and p.isdigit() for p in parts) or len(parts) > 2:
            return None
        return tuple(int(p) for p in parts)

    @property
    def available_instances(self) -> dict[int, tuple[int, ...]]:
        """Object id to the instance ids the client announced (empty for object-only links)."""
        found: dict[int, list[int]] = {}
        for link in self.object_links:
            ids = self._object_path(link)
            if ids is None:
                continue
            instances = found.setdefault(ids[0], [])
            if len(ids) == 2:
                instances.append(ids[1])
        return {o: tuple(sorted(i)) for o, i in sorted(found.items())}

    @property
    def object_versions(self) -> dict[int, str]:
        """Object id to the version announced with ver=, '1.0' where none was."""
        versions: dict[int, str] = {}
        for link in self.object_links:
            ids = self._object_path(link)
            if ids is not None and len(ids) == 1:
                versions[ids[0]] = link.attributes.get("ver") or "1.0"
        return versions

    def updated(self, params: RegistrationParams, host: str, port: int, now: float) -> Registration:
        """The registration after an Update from host:port at time `now`."""
        return replace(
            self,
            host=host,
            port=port,
            lifetime=params.lifetime if params.lifetime is not None else self.lifetime,
            binding=params.binding if params.binding is not None else self.binding,
            queue_mode=params.queue_mode if params.queue_mode is not None else self.queue_mode,
            sms=params.sms if params.sms is not None else self.sms,
            object_links=(
                params.object_links if params.object_links is not None else self.object_links
            ),
            additional_attributes={**self.additional_attributes, **params.additional_attributes},
            last_update=now,
        )

    @property
    def links_text(self) -> str:
        return format_link_format(self.object_links)
