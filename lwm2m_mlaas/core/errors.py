"""Typed LwM2M errors; each carries the CoAP response code it maps to."""

from __future__ import annotations

from enum import IntEnum


class ResponseCode(IntEnum):
    """CoAP response codes (RFC 7252 12.1.2), numbered as on the wire (class << 5 | detail)."""

    CREATED = 65
    DELETED = 66
    VALID = 67
    CHANGED = 68
    CONTENT = 69
    CONTINUE = 95
    BAD_REQUEST = 128
    UNAUTHORIZED = 129
    BAD_OPTION = 130
    FORBIDDEN = 131
    NOT_FOUND = 132
    METHOD_NOT_ALLOWED = 133
    NOT_ACCEPTABLE = 134
    REQUEST_ENTITY_INCOMPLETE = 136
    PRECONDITION_FAILED = 140
    REQUEST_ENTITY_TOO_LARGE = 141
    UNSUPPORTED_CONTENT_FORMAT = 143
    INTERNAL_SERVER_ERROR = 160
    NOT_IMPLEMENTED = 161
    BAD_GATEWAY = 162
    SERVICE_UNAVAILABLE = 163
    GATEWAY_TIMEOUT = 164

    @property
    def dotted(self) -> str:
        """'2.05' style."""
        return f"{self.value >> 5}.{self.value & 0x1F:02d}"

    @property
    def is_success(self) -> bool:
        return self.value >> 5 == 2

    @property
    def leshan(self) -> str:
        """Leshan's status string, e.g. 'CONTENT(205)'."""
        return f"{self.name}({self.value >> 5}{self.value & 0x1F:02d})"


class Lwm2mError(Exception):
    """Base of every LwM2M error; `code` is the CoAP answer it becomes."""

    code: ResponseCode = ResponseCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, code: ResponseCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidRequest(Lwm2mError):
    """A request whose parameters break the LwM2M rules (4.00)."""

    code = ResponseCode.BAD_REQUEST


class InvalidPath(InvalidRequest):
    """A path that is not /O[/I[/R[/RI]]] with ids in range."""


class CodecError(InvalidRequest):
    """A payload that does not decode, or a node that cannot be encoded, in a content format."""


class UnsupportedContentFormat(Lwm2mError):
    code = ResponseCode.UNSUPPORTED_CONTENT_FORMAT


class ModelError(Lwm2mError):
    """A DDF file that is malformed, hostile or inconsistent."""

    code = ResponseCode.INTERNAL_SERVER_ERROR


class UnknownRegistration(Lwm2mError):
    code = ResponseCode.NOT_FOUND
