"""Object 5 (Firmware Update) on the simulated device, with Zephyr's states and results:
push (write /5/0/0), pull (write /5/0/1, fetched with Block2), cancel by empty write,
execute /5/0/2 only in DOWNLOADED. /5/0/9 names the delivery methods the device accepts; a
package arriving by the other one is refused with 4.05. Fault injection: a share of received
packages gets one payload byte flipped before it is checked."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiocoap
import cbor2
from aiocoap.numbers.codes import Code

from ..coap import block_exp
from ..core.errors import Lwm2mError, ResponseCode
from ..core.firmware_update import (
    PACKAGE_URI,
    PKG_NAME,
    PKG_VERSION,
    STATE,
    UPDATE,
    UPDATE_RESULT,
    DeliveryMethod,
    FirmwareResult,
    FirmwareState,
)
from ..core.paths import Lwm2mPath

if TYPE_CHECKING:
    from .device import SimulatedDevice

log = logging.getLogger(__name__)


Installer = Callable[[bytes], Awaitable[tuple[FirmwareResult, str, str]]]
"""Checks and installs a package; returns (result, package name, package version)."""


DELIVERY = {method.name.lower(): int(method) for method in DeliveryMethod}
"""DeviceConfig.delivery -> /5/0/9 Firmware Update Delivery Method."""


def flip_payload_byte(package: bytes, rng: random.Random) -> bytes:
    """The package with one byte of its payload inverted. The payload is the package array's
    last item, so it is the file's tail; data that is not a package gets any byte inverted."""
    try:
        span = len(cbor2.loads(package)[1]) or len(package)  # cbor2 drops tag 55799
    except Exception:  # not a package: any byte will do
        span = len(package)
    corrupted = bytearray(package)
    corrupted[len(package) - 1 - rng.randrange(span)] ^= 0xFF
    return bytes(corrupted)


async def accept_any(package: bytes) -> tuple[FirmwareResult, str, str]:
    return FirmwareResult.SUCCESS, "package", f"{len(package)}B"


class FirmwareUpdate:
    def __init__(self, device: SimulatedDevice, installer: Installer = accept_any) -> None:
        self.device = device
        self.installer = installer
        self.package = b""
        self.updates = 0
        """Update executions (/5/0/2) received: installs started."""
        self.rng = random.Random(f"{device.config.seed}:{device.config.endpoint}")
        """Decides which received packages get corrupted (DeviceConfig.corrupt_fraction)."""
        self._download: asyncio.Task[None] | None = None
        self._installing: asyncio.Task[None] | None = None
        tree = device.tree
        tree.on_write(5, 0, self._package_written)
        tree.on_write(5, 1, self._uri_written)
        tree.on_execute(UPDATE, self._update)

    @property
    def state(self) -> FirmwareState:
        return FirmwareState(int(self.device.tree.get(STATE)))  # type: ignore[arg-type]

    def _set(self, state: FirmwareState, result: FirmwareResult | None = None) -> None:
        self.device.tree.set(STATE, int(state))
        if result is not None:
            self.device.tree.set(UPDATE_RESULT, int(result))

    def accepts(self, resource: int) -> bool:
        """Whether the device takes a package by push (resource 0) or pull (resource 1)."""
        delivery = self.device.config.delivery
        return delivery == "both" or delivery == ("push" if resource == 0 else "pull")

    def _refuse(self, resource: int) -> Lwm2mError:
        method = "push" if resource == 0 else "pull"
        return Lwm2mError(
            f"this device does not accept {method} delivery",
            code=ResponseCode.METHOD_NOT_ALLOWED,
        )

    def _received(self, package: bytes) -> bytes:
        if self.rng.random() < self.device.config.corrupt_fraction:
            log.info("%s: corrupting the received package", self.device.config.endpoint)
            return flip_payload_byte(package, self.rng)
        return package

    def _cancel(self) -> None:
        if self._download is not None:
            self._download.cancel()
            self._download = None
        self.package = b""
        self._set(FirmwareState.IDLE, FirmwareResult.INITIAL)

    def _package_written(self, _path: Lwm2mPath, value: Any) -> None:
        self.device.tree.data[5][0][0] = b""  # the package is write-only; keep no copy there
        if not value:
            self._cancel()
            return
        if not self.accepts(0):
            raise self._refuse(0)
        if self.state is not FirmwareState.IDLE:
            raise Lwm2mError("a package is already being handled", code=ResponseCode.BAD_REQUEST)
        if len(value) > self.device.config.board.ml_flash:
            self._set(FirmwareState.IDLE, FirmwareResult.NOT_ENOUGH_STORAGE)
            return
        self.package = self._received(bytes(value))
        self._set(FirmwareState.DOWNLOADED, FirmwareResult.INITIAL)

    def _uri_written(self, _path: Lwm2mPath, value: Any) -> None:
        if not value:
            self._cancel()
            return
        if not self.accepts(1):
            self.device.tree.set(PACKAGE_URI, "")
            raise self._refuse(1)
        uri = str(value)
        if not uri.startswith("coaps://" if self.device.secure else "coap://"):
            self._set(
                FirmwareState.IDLE,
                FirmwareResult.UNSUPPORTED_PROTOCOL if "://" in uri else FirmwareResult.INVALID_URI,
            )
            return
        self._set(FirmwareState.DOWNLOADING, FirmwareResult.INITIAL)
        self._download = asyncio.get_running_loop().create_task(self._pull(uri))

    async def _pull(self, uri: str) -> None:
        """Fetch the package one Block2 block at a time, as Zephyr's firmware pull does: each
        block is its own request at the device's block size (or the server's, if smaller), so
        the device holds one block in flight and can refuse a package by its Size2 early."""
        context = self.device.context
        assert context is not None
        first = aiocoap.Message(code=Code.GET, uri=uri)
        received = bytearray()
        number, exponent = 0, block_exp(self.device.config.block_size)
        flash = self.device.config.board.ml_flash
        try:
            await context.find_remote_and_interface(first)
            remote, path = first.remote, first.opt.uri_path
            async with asyncio.timeout(120):
                while True:
                    msg = aiocoap.Message(code=Code.GET, uri_path=path,
                                          block2=(number, False, exponent))  # fmt: skip
                    msg.remote = remote
                    exchanges = self.device.exchanges
                    if exchanges is not None and exchanges.handles(remote):
                        answer = await exchanges.request(msg)
                    else:
                        answer = await context.request(msg, handle_blockwise=False).response
                    if not answer.code.is_successful():
                        self._set(FirmwareState.IDLE, FirmwareResult.INVALID_URI)
                        return
                    block = answer.opt.block2
                    size = max(answer.opt.size2 or 0, len(received) + len(answer.payload))
                    if size > flash:
                        self._set(FirmwareState.IDLE, FirmwareResult.NOT_ENOUGH_STORAGE)
                        return
                    if block is None:
                        received = bytearray(answer.payload)
                        break
                    if block.start != len(received):
                        raise aiocoap.error.Error(f"block at {block.start}, {len(received)} held")
                    received += answer.payload
                    if not block.more:
                        break
                    number, exponent = block.block_number + 1, block.size_exponent
        except (TimeoutError, aiocoap.error.Error) as exc:
            log.info("%s: download of %s failed: %s", self.device.config.endpoint, uri, exc)
            self._set(FirmwareState.IDLE, FirmwareResult.CONNECTION_LOST)
            return
        self.package = self._received(bytes(received))
        self._set(FirmwareState.DOWNLOADED, FirmwareResult.INITIAL)

    def _update(self, _arguments: str) -> None:
        if self.state is not FirmwareState.DOWNLOADED:
            raise Lwm2mError(
                "update is only allowed in state DOWNLOADED", code=ResponseCode.METHOD_NOT_ALLOWED
            )
        self._set(FirmwareState.UPDATING)
        self.updates += 1
        self._installing = asyncio.get_running_loop().create_task(self._install())

    async def _install(self) -> None:
        try:
            result, name, version = await self.installer(self.package)
        except Exception:
            log.exception("%s: installing the package failed", self.device.config.endpoint)
            result, name, version = FirmwareResult.UPDATE_FAILED, "", ""
        self.package = b""
        if result is FirmwareResult.SUCCESS:
            self.device.tree.set(PKG_NAME, name)
            self.device.tree.set(PKG_VERSION, version)
        self._set(FirmwareState.IDLE, result)
