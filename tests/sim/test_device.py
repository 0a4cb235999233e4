"""The simulated device without a network: its registration payload forms (accepted by the
server's parser), Zephyr's update timing, root-path addressing and the Firmware Update object."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import InvalidPath, Lwm2mError, ResponseCode
from lwm2m_mlaas.core.firmware_update import FirmwareResult, FirmwareState
from lwm2m_mlaas.core.linkformat import Link, parse_link_format
from lwm2m_mlaas.core.model import ObjectRegistry
from lwm2m_mlaas.core.nodes import ObjectInstance, SingleResource
from lwm2m_mlaas.core.nodes import ResourceType as T
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.core.registration import Registration, parse_register
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from lwm2m_mlaas.sim.device import REGISTRATION_FORMS
from lwm2m_mlaas.sim.firmware import accept_any
from tests.helpers import expect_error, wait_for
from tests.helpers.packages import push_package

P = Lwm2mPath.parse
MODEL = load_default()
INSTANCES = {1: (0,), 3: (0,), 5: (0,), 32100: (0,), 32101: (0,)}
OBJECTS = "</1/0>,</3/0>,</5/0>,</32100/0>,</32101/0>"


def sim(form: str = "senml-cbor", model: ObjectRegistry = MODEL, **options: Any) -> SimulatedDevice:
    config = replace(DeviceConfig("sim-1", registration_form=form), **options)
    return SimulatedDevice(config, model)


def registered(device: SimulatedDevice) -> Registration:
    """Parse the device's Register request the way the server does."""
    c = device.config
    query = [f"ep={c.endpoint}", f"lt={device.lifetime}", f"lwm2m={c.lwm2m_version}", "b=U"]
    params = parse_register(query, device.object_links().encode(), 40)
    assert params.object_links == parse_link_format(device.object_links())
    return Registration(
        id="r", endpoint=c.endpoint, host="127.0.0.1", port=5683, lifetime=device.lifetime,
        lwm2m_version=c.lwm2m_version, binding="U", queue_mode=False,
        object_links=params.object_links, registration_date=0.0, last_update=0.0,
    )  # fmt: skip


def test_every_registration_form_is_covered() -> None:
    assert REGISTRATION_FORMS == ("senml-cbor", "json-rt", "versioned", "plain", "root-path")


@pytest.mark.parametrize(
    ("form", "expected", "root"),
    [
        ("senml-cbor", "</>;ct=112," + OBJECTS, "/"),
        ("json-rt", '</>;rt="oma.lwm2m";ct=11543,' + OBJECTS, "/"),
        # every object in objects/ is version 1.0, so nothing carries ver=
        ("versioned", "</1>;ver=1.1," + OBJECTS, "/"),
        ("plain", OBJECTS, "/"),
        (
            "root-path",
            '</lwm2m>;rt="oma.lwm2m";ct=11542,' + OBJECTS.replace("</", "</lwm2m/"),
            "/lwm2m/",
        ),
    ],
)
def test_object_links_forms_are_accepted(form: str, expected: str, root: str) -> None:
    device = sim(form)
    assert device.object_links() == expected
    reg = registered(device)
    assert reg.root_path == root
    assert reg.available_instances == INSTANCES
    assert reg.object_versions == ({1: "1.1"} if form == "versioned" else {})


def test_versioned_form_announces_object_versions() -> None:
    model = ObjectRegistry.of(replace(m, version="1.1") if m.id == 3 else m for m in MODEL)
    device = sim("versioned", model)
    assert device.object_links() == \
        "</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,</5/0>,</32100/0>,</32101/0>"  # fmt: skip
    assert parse_link_format(device.object_links())[2] == Link("/3", {"ver": "1.1"})
    reg = registered(device)
    assert reg.object_versions == {1: "1.1", 3: "1.1"}
    assert reg.available_instances == INSTANCES


def test_root_path_form_with_a_deeper_root() -> None:
    device = sim("root-path", root_path="/a/b/")
    assert device.object_links().startswith('</a/b>;rt="oma.lwm2m";ct=11542,</a/b/1/0>,')
    reg = registered(device)
    assert reg.root_path == "/a/b/"
    assert reg.available_instances == INSTANCES
    assert device.local_path(("a", "b", "5", "0", "3")) == P("/5/0/3")


def test_created_instance_shows_in_the_next_payload() -> None:
    device = sim("plain")
    device.tree.create(P("/1"), ObjectInstance.of(3, SingleResource(0, T.INTEGER, 7)))
    assert device._objects_changed
    assert registered(device).available_instances[1] == (0, 3)


@pytest.mark.parametrize(
    ("lifetime", "interval"),
    [(86400, 86394.0), (30, 24.0), (13, 7.0), (12, 6.0), (10, 5.0), (1, 0.5)],
)
def test_update_interval(lifetime: int, interval: float) -> None:
    assert sim(lifetime=lifetime).update_interval() == interval


def test_lifetime_written_by_the_server() -> None:
    device = sim(lifetime=30)
    device.tree.write(P("/1/0/1"), SingleResource(1, T.INTEGER, 120), replace=True)
    assert device.lifetime == 120
    assert device.update_interval() == 114.0
    assert device._lifetime_changed


def test_local_path_plain_and_root_path() -> None:
    assert sim("plain").local_path(("3", "0", "1")) == P("/3/0/1")
    assert sim("plain").local_path(()) == P("/")
    root = sim("root-path")
    assert root.local_path(("lwm2m", "3", "0")) == P("/3/0")
    assert root.local_path(("lwm2m",)) == P("/")
    with pytest.raises(Lwm2mError) as caught:
        root.local_path(("3", "0"))
    assert (caught.value.code, str(caught.value)) == (ResponseCode.NOT_FOUND, "/3/0 not found")
    with pytest.raises(InvalidPath) as bad:
        sim("plain").local_path(("lwm2m", "3"))
    assert bad.value.code is ResponseCode.BAD_REQUEST
    assert str(bad.value) == "invalid path 'lwm2m/3': 'lwm2m' is not a decimal id"


def test_device_reports_its_board_and_binding() -> None:
    board = BOARDS["samd21"]
    device = sim(board=board, lwm2m_version="1.0", queue_mode=True, task="kws")
    tree = device.tree
    assert (tree.get("/32100/0/0"), tree.get("/32100/0/2"), tree.get("/32100/0/3")) == (
        "cortex-m0plus", 12 * 1024, 64 * 1024,
    )  # fmt: skip
    assert tree.get("/32100/0/4") == {0: "tflm"}
    assert tree.get("/32100/0/5") == "kws"
    assert tree.get("/1/0/7") == "UQ"
    assert sim().tree.get("/1/0/7") == "U"


# Firmware Update (object 5), driven as the server drives it


def state(device: SimulatedDevice) -> tuple[FirmwareState, FirmwareResult]:
    result = device.tree.get("/5/0/5")
    assert isinstance(result, int)
    return device.firmware.state, FirmwareResult(result)


IDLE = (FirmwareState.IDLE, FirmwareResult.INITIAL)
DOWNLOADED = (FirmwareState.DOWNLOADED, FirmwareResult.INITIAL)
NOT_DOWNLOADED = "update is only allowed in state DOWNLOADED"


async def test_firmware_push_then_update() -> None:
    device = sim()
    device.firmware.installer = accept_any  # the state machine alone (see test_firmware_install)
    tree = device.tree
    assert state(device) == IDLE
    assert (tree.get("/5/0/8"), tree.get("/5/0/9")) == ({0: 0}, 2)
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, NOT_DOWNLOADED):
        tree.execute(P("/5/0/2"), "")
    push_package(device, b"\x01" * 1000)
    assert state(device) == DOWNLOADED
    assert device.firmware.package == b"\x01" * 1000
    assert tree.get("/5/0/0") == b""  # the package is not kept in the resource
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, "read not allowed on /5/0/0"):
        tree.read(P("/5/0/0"))
    with expect_error(ResponseCode.BAD_REQUEST, "a package is already being handled"):
        push_package(device, b"other")
    tree.execute(P("/5/0/2"), "")
    assert state(device)[0] is FirmwareState.UPDATING
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, NOT_DOWNLOADED):
        tree.execute(P("/5/0/2"), "")
    await wait_for(lambda: state(device) == (FirmwareState.IDLE, FirmwareResult.SUCCESS))
    assert (tree.get("/5/0/6"), tree.get("/5/0/7")) == ("package", "1000B")
    assert device.firmware.package == b""


async def test_firmware_empty_write_cancels() -> None:
    device = sim()
    push_package(device, b"model")
    assert state(device) == DOWNLOADED
    push_package(device, b"")
    assert state(device) == IDLE
    assert device.firmware.package == b""
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, NOT_DOWNLOADED):
        device.tree.execute(P("/5/0/2"), "")
    push_package(device, b"model")
    device.tree.write(P("/5/0/1"), SingleResource(1, T.STRING, ""), replace=True)
    assert state(device) == IDLE


async def test_firmware_too_large_package() -> None:
    device = sim(board=BOARDS["samd21"])
    flash = BOARDS["samd21"].ml_flash
    push_package(device, bytes(flash + 1))
    assert state(device) == (FirmwareState.IDLE, FirmwareResult.NOT_ENOUGH_STORAGE)
    with expect_error(ResponseCode.METHOD_NOT_ALLOWED, NOT_DOWNLOADED):
        device.tree.execute(P("/5/0/2"), "")
    push_package(device, bytes(flash))
    assert state(device) == DOWNLOADED


@pytest.mark.parametrize(
    ("uri", "result"),
    [
        ("http://192.0.2.2/fw/1", FirmwareResult.UNSUPPORTED_PROTOCOL),
        ("fw/1", FirmwareResult.INVALID_URI),
    ],
)
async def test_firmware_pull_uri_refused(uri: str, result: FirmwareResult) -> None:
    device = sim()
    device.tree.write(P("/5/0/1"), SingleResource(1, T.STRING, uri), replace=True)
    assert state(device) == (FirmwareState.IDLE, result)


async def test_firmware_installer_failure() -> None:
    device = sim()

    async def unsupported(_package: bytes) -> tuple[FirmwareResult, str, str]:
        return FirmwareResult.UNSUPPORTED_PACKAGE, "x", "9"

    device.firmware.installer = unsupported
    push_package(device, b"model")
    device.tree.execute(P("/5/0/2"), "")
    await wait_for(lambda: state(device)[0] is FirmwareState.IDLE)
    assert state(device) == (FirmwareState.IDLE, FirmwareResult.UNSUPPORTED_PACKAGE)
    assert (device.tree.get("/5/0/6"), device.tree.get("/5/0/7")) == ("", "")
