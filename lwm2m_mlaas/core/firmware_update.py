"""Object 5, Firmware Update (OMA-TS-LightweightM2M-V1_0 Appendix E.6; objects/5.xml): its
states, update results, resource paths and delivery methods, shared by the server (fleet/), the
simulated devices (sim/) and, checked by tests/core/test_firmware_update.py, the C firmware
(firmware_stubs/include/firmware.h, package.h and the resource table in src/objects.c)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from .paths import Lwm2mPath


class FirmwareState(IntEnum):
    """/5/0/3 State: where the client is in the firmware update state machine."""

    IDLE = 0
    DOWNLOADING = 1
    DOWNLOADED = 2
    UPDATING = 3


class FirmwareResult(IntEnum):
    """/5/0/5 Update Result: 0 while idle or in progress, then the outcome."""

    INITIAL = 0
    SUCCESS = 1
    NOT_ENOUGH_STORAGE = 2
    OUT_OF_RAM = 3
    CONNECTION_LOST = 4
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE = 6
    INVALID_URI = 7
    UPDATE_FAILED = 8
    UNSUPPORTED_PROTOCOL = 9


class DeliveryMethod(IntEnum):
    """/5/0/9 Firmware Update Delivery Method: how the client accepts a package."""

    PULL = 0
    PUSH = 1
    BOTH = 2


PACKAGE = Lwm2mPath.of(5, 0, 0)
"""Package (W, Opaque): pushed block-wise; an empty write cancels."""
PACKAGE_URI = Lwm2mPath.of(5, 0, 1)
"""Package URI (RW, String): the client pulls the package from it; an empty write cancels."""
UPDATE = Lwm2mPath.of(5, 0, 2)
"""Update (E): installs the package, only in state DOWNLOADED."""
STATE = Lwm2mPath.of(5, 0, 3)
"""State (R, Integer): a FirmwareState."""
UPDATE_RESULT = Lwm2mPath.of(5, 0, 5)
"""Update Result (R, Integer): a FirmwareResult."""
PKG_NAME = Lwm2mPath.of(5, 0, 6)
"""PkgName (R, String)."""
PKG_VERSION = Lwm2mPath.of(5, 0, 7)
"""PkgVersion (R, String): here the package id, the SHA-256 of the package file."""
PROTOCOL_SUPPORT = Lwm2mPath.of(5, 0, 8)
"""Firmware Update Protocol Support (R, Integer, multiple): 0 CoAP, 1 CoAPS, 2 HTTP, 3 HTTPS."""
DELIVERY_METHOD = Lwm2mPath.of(5, 0, 9)
"""Firmware Update Delivery Method (R, Integer): a DeliveryMethod."""

REASONS: Mapping[int, str] = {
    FirmwareResult.INITIAL: "initial value",
    FirmwareResult.SUCCESS: "updated successfully",
    FirmwareResult.NOT_ENOUGH_STORAGE: "not enough flash for the package",
    FirmwareResult.OUT_OF_RAM: "out of RAM during the download or install",
    FirmwareResult.CONNECTION_LOST: "connection lost during the download",
    FirmwareResult.INTEGRITY_FAILURE: "integrity check failure (digest or signature)",
    FirmwareResult.UNSUPPORTED_PACKAGE: "unsupported package type",
    FirmwareResult.INVALID_URI: "invalid URI",
    FirmwareResult.UPDATE_FAILED: "firmware update failed (the model did not pass its checks)",
    FirmwareResult.UNSUPPORTED_PROTOCOL: "unsupported protocol",
}
"""What each Update Result means, as deliveries record it."""
