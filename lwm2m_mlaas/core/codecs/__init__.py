"""Content-format codecs: pure `encode(node, path, model) -> bytes` and
`decode(data, path, model) -> node`, one module per format, chosen by `CODECS[format]`."""

from __future__ import annotations

from typing import Protocol

from ..content_format import ContentFormat
from ..errors import UnsupportedContentFormat
from ..model import ObjectRegistry
from ..nodes import Node
from ..paths import Lwm2mPath
from ._senml import SenmlCodec


class Codec(Protocol):
    content_format: ContentFormat

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes: ...

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node: ...


CODECS: dict[ContentFormat, Codec] = {}


def codec_for(content_format: ContentFormat | int) -> Codec:
    try:
        return CODECS[ContentFormat(content_format)]
    except (KeyError, ValueError):
        raise UnsupportedContentFormat(
            f"content format {content_format} is not supported"
        ) from None


def encode(
    node: Node, path: Lwm2mPath, model: ObjectRegistry, content_format: ContentFormat
) -> bytes:
    return codec_for(content_format).encode(node, path, model)


def decode(
    data: bytes, path: Lwm2mPath, model: ObjectRegistry, content_format: ContentFormat | int
) -> Node:
    return codec_for(content_format).decode(data, path, model)


def _register() -> None:
    from .cbor import CBOR
    from .lwm2m_cbor import LWM2M_CBOR
    from .lwm2m_json import JSON, OLD_JSON
    from .opaque import OPAQUE
    from .senml_cbor import SENML_CBOR
    from .senml_json import SENML_JSON
    from .text import TEXT
    from .tlv import OLD_TLV, TLV

    for codec in (TEXT, OPAQUE, CBOR, TLV, OLD_TLV, SENML_JSON, SENML_CBOR, JSON, OLD_JSON,
                  LWM2M_CBOR):
        CODECS[codec.content_format] = codec


_register()


def senml_codec(content_format: ContentFormat | int | None) -> SenmlCodec:
    """The SenML codec of a composite operation: SenML JSON when asked, else SenML CBOR."""
    wanted = ContentFormat.SENML_JSON
    codec = CODECS[wanted if content_format == wanted else ContentFormat.SENML_CBOR]
    assert isinstance(codec, SenmlCodec)
    return codec
