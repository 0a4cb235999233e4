"""/fw/<package>: firmware packages for pull delivery (object 5 Package URI), served with
Block2 at the block size the device asks for."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code

from ..core.errors import Lwm2mError, ResponseCode
from .resources import error_message

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class PackageStore:
    """Packages as files in one folder, addressed by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise Lwm2mError(f"invalid package name {name!r}", code=ResponseCode.BAD_REQUEST)
        return self.folder / name

    def put(self, name: str, data: bytes) -> None:
        target = self.path(name)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)

    def get(self, name: str) -> bytes:
        target = self.path(name)
        if not target.is_file():
            raise Lwm2mError(f"no package {name!r}", code=ResponseCode.NOT_FOUND)
        return target.read_bytes()


class FirmwareResource(coap_resource.Resource, coap_resource.PathCapable):
    def __init__(self, packages: PackageStore) -> None:
        super().__init__()
        self.packages = packages

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            if request.code != Code.GET:
                raise Lwm2mError("packages are read-only", code=ResponseCode.METHOD_NOT_ALLOWED)
            if len(request.opt.uri_path) != 1:
                raise Lwm2mError("use /fw/<package>", code=ResponseCode.NOT_FOUND)
            data = await asyncio.to_thread(self.packages.get, request.opt.uri_path[0])
            return aiocoap.Message(code=Code.CONTENT, payload=data, content_format=42)
        except Exception as exc:
            return error_message(exc)
