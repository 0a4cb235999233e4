"""application/octet-stream (content format 42): the raw bytes of one Opaque resource or
resource instance (LwM2M 1.1 Core 7.4.2), e.g. a firmware package written to /5/0/0."""

from __future__ import annotations

from ..content_format import ContentFormat
from ..errors import CodecError
from ..model import ObjectRegistry
from ..nodes import Node, ResourceInstance, ResourceType, SingleResource
from ..paths import Lwm2mPath
from ._values import model_multiple, model_type, node_path


class OpaqueCodec:
    content_format = ContentFormat.OPAQUE

    def encode(self, node: Node, path: Lwm2mPath, model: ObjectRegistry) -> bytes:
        if not isinstance(node, SingleResource | ResourceInstance):
            raise CodecError(f"opaque carries one value, not a {type(node).__name__}")
        node_path(node, path)
        if node.type is not ResourceType.OPAQUE or not isinstance(node.value, bytes | bytearray):
            raise CodecError(f"{path}: opaque carries Opaque values only, not {node.type.value}")
        return bytes(node.value)

    def decode(self, data: bytes, path: Lwm2mPath, model: ObjectRegistry) -> Node:
        if len(path.ids) < 3:
            raise CodecError(f"opaque carries one value, {path} is not a resource path")
        if path.is_resource and model_multiple(model, path):
            raise CodecError(f"opaque cannot carry the multiple resource {path}")
        type_ = model_type(model, path)
        if type_ not in (None, ResourceType.OPAQUE):
            raise CodecError(f"{path} is a {type_.value} resource, opaque carries Opaque only")
        if path.is_resource:
            return SingleResource(path.ids[-1], ResourceType.OPAQUE, bytes(data))
        return ResourceInstance(path.ids[-1], ResourceType.OPAQUE, bytes(data))


OPAQUE = OpaqueCodec()
