"""/fw/<package>: firmware packages for pull delivery (object 5 Package URI), served with
Block2 at the block size the device asks for."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from pathlib import Path

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code

from ..core.errors import Lwm2mError, ResponseCode
from .resources import error_message

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


CACHE_BYTES = 16 * 2**20
"""Package bytes kept in memory: every Block2 request of a pull renders the whole package."""


class PackageStore:
    """Packages as files in one folder, addressed by name. Names are content addresses, so the
    most recently served packages are kept in memory (up to CACHE_BYTES)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached_bytes = 0

    def cached(self, name: str) -> bytes | None:
        data = self._cache.get(name)
        if data is not None:
            self._cache.move_to_end(name)
        return data

    def keep(self, name: str, data: bytes) -> None:
        if name in self._cache or len(data) > CACHE_BYTES:
            return
        self._cache[name] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > CACHE_BYTES:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)

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
    """Serves each Block2 block itself, sliced from the cached package: aiocoap's block-wise
    layer would copy the whole response message for every block."""

    def __init__(self, packages: PackageStore) -> None:
        super().__init__()
        self.packages = packages

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return False

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            if request.code != Code.GET:
                raise Lwm2mError("packages are read-only", code=ResponseCode.METHOD_NOT_ALLOWED)
            if len(request.opt.uri_path) != 1:
                raise Lwm2mError("use /fw/<package>", code=ResponseCode.NOT_FOUND)
            name = request.opt.uri_path[0]
            data = self.packages.cached(name)
            if data is None:
                data = await asyncio.to_thread(self.packages.get, name)
                self.packages.keep(name, data)
            return block_of(request, data)
        except Exception as exc:
            return error_message(exc)

    def cached_block(self, request: aiocoap.Message) -> aiocoap.Message | None:
        """The answer to a GET of /fw/<package> (path not stripped) from the package in
        memory; None when it is not in memory."""
        data = self.packages.cached(request.opt.uri_path[-1])
        if data is None:
            return None
        try:
            return block_of(request, data)
        except Lwm2mError as exc:
            return error_message(exc)


def block_of(request: aiocoap.Message, data: bytes) -> aiocoap.Message:
    """The Block2 answer (RFC 7959 2.4) to `request` for `data`: the block it asks for, at
    its size or the largest this side sends, whichever is smaller; all of it if it fits."""
    largest = getattr(request.remote, "maximum_block_size_exp", 6)
    asked = request.opt.block2
    if asked is None:
        if len(data) <= getattr(request.remote, "maximum_payload_size", 1024):
            return aiocoap.Message(code=Code.CONTENT, payload=data, content_format=42)
        number, exponent = 0, largest
    else:  # (a BERT exponent, 7, asks for 1024-byte blocks over UDP)
        exponent = min(asked.size_exponent, 6, largest)
        number = asked.block_number * 2 ** (min(asked.size_exponent, 6) - exponent)
    size = 2 ** (exponent + 4)
    start = number * size
    if start >= len(data) and start > 0:
        raise Lwm2mError(f"block {number} starts past the package's {len(data)} bytes",
                         code=ResponseCode.BAD_OPTION)  # fmt: skip
    answer = aiocoap.Message(code=Code.CONTENT, payload=data[start : start + size],
                             content_format=42)  # fmt: skip
    answer.opt.block2 = (number, start + size < len(data), exponent)
    answer.opt.size2 = len(data)
    return answer
