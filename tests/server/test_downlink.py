"""Device management from the server's socket to a simulated device (LwM2M 1.1 TS Core 6.3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.firmware_update import FirmwareState
from lwm2m_mlaas.core.nodes import (
    Lwm2mObject,
    MultiResource,
    ObjectInstance,
    ResourceInstance,
    ResourceType,
    SingleResource,
)
from lwm2m_mlaas.server import Lwm2mServer
from lwm2m_mlaas.sim import BOARDS, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import DeviceFactory, answered, node_as


@pytest.mark.parametrize(
    "fmt",
    [
        None,
        ContentFormat.TLV,
        ContentFormat.SENML_JSON,
        ContentFormat.SENML_CBOR,
        ContentFormat.JSON,
    ],
)
async def test_read_instance_in_every_format(
    server: Lwm2mServer, device: DeviceFactory, fmt: ContentFormat | None
) -> None:
    await device("dev-1")
    response = answered(await server.read("dev-1", "/3/0", fmt))
    assert response.code is ResponseCode.CONTENT
    if fmt is not None:
        assert response.content_format == fmt
    resources = node_as(ObjectInstance, response).resources
    assert getattr(resources[0], "value", None) == "lwm2m-mlaas"
    assert getattr(resources[1], "value", None) == "sim-nrf52840"


async def test_read_resource_object_and_resource_instance(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    two_runtimes = replace(BOARDS["nrf52840"], runtimes=("tflm", "native-armv7em-hardfp"))
    await device("dev-1", board=two_runtimes)  # /32100/0/4 with two instances
    text = answered(await server.read("dev-1", "/32100/0/0", ContentFormat.TEXT))
    assert text.node == SingleResource(0, ResourceType.STRING, "cortex-m4f")
    runtimes = answered(await server.read("dev-1", "/32100/0/4", ContentFormat.TLV))
    assert runtimes.node == MultiResource(
        4, ResourceType.STRING, {0: "tflm", 1: "native-armv7em-hardfp"}
    )
    one = answered(await server.read("dev-1", "/32100/0/4/1", ContentFormat.SENML_CBOR))
    assert one.node == ResourceInstance(1, ResourceType.STRING, "native-armv7em-hardfp")
    whole = answered(await server.read("dev-1", "/1", ContentFormat.SENML_JSON))
    assert whole.success and 0 in node_as(Lwm2mObject, whole).instances


async def test_read_errors_are_typed(server: Lwm2mServer, device: DeviceFactory) -> None:
    await device("dev-1")
    missing = answered(await server.read("dev-1", "/3/0/99"))
    assert missing.code is ResponseCode.NOT_FOUND and "/3/0/99" in (missing.error or "")
    write_only = answered(await server.read("dev-1", "/5/0/0"))
    assert write_only.code is ResponseCode.METHOD_NOT_ALLOWED


async def test_write_replace_and_partial_update(server: Lwm2mServer, device: DeviceFactory) -> None:
    sim = await device("dev-1")
    lifetime = SingleResource(1, ResourceType.INTEGER, 45)
    assert answered(await server.write("dev-1", "/1/0/1", lifetime)).code is ResponseCode.CHANGED
    assert sim.tree.get("/1/0/1") == 45

    task = SingleResource(5, ResourceType.STRING, "anomaly")
    instance = ObjectInstance.of(0, task)
    for fmt in (ContentFormat.TLV, ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON):
        result = answered(
            await server.write("dev-1", "/32100/0", instance, replace=False, content_format=fmt)
        )
        assert result.code is ResponseCode.CHANGED, (fmt, result.error)
    assert sim.tree.get("/32100/0/5") == "anomaly"

    runtimes = MultiResource(4, ResourceType.STRING, {0: "x"})
    refused = answered(await server.write("dev-1", "/32100/0/4", runtimes))
    assert refused.code is ResponseCode.METHOD_NOT_ALLOWED

    errors = MultiResource(11, ResourceType.INTEGER, {0: 0})
    assert (
        answered(await server.write("dev-1", "/3/0/11", errors)).code
        is ResponseCode.METHOD_NOT_ALLOWED
    )


async def test_write_lifetime_makes_the_device_update(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    await device("dev-1", lifetime=30)
    await server.write("dev-1", "/1/0/1", SingleResource(1, ResourceType.INTEGER, 120))

    def lifetime_is_120() -> bool:
        registration = server.registrations.by_endpoint("dev-1")
        return registration is not None and registration.lifetime == 120

    await wait_for(lifetime_is_120)


async def test_execute_with_arguments(server: Lwm2mServer, device: DeviceFactory) -> None:
    sim = await device("dev-1")
    seen: list[str] = []
    sim.tree.on_execute("/3/0/4", seen.append)
    result = answered(await server.execute("dev-1", "/3/0/4", "0='now',1"))
    assert result.code is ResponseCode.CHANGED
    assert seen == ["0='now',1"]
    assert answered(await server.execute("dev-1", "/3/0/0")).code is ResponseCode.METHOD_NOT_ALLOWED
    # /5/0/2 is only valid in DOWNLOADED
    assert answered(await server.execute("dev-1", "/5/0/2")).code is ResponseCode.METHOD_NOT_ALLOWED


async def test_discover_lists_resources_and_attributes(
    server: Lwm2mServer, device: DeviceFactory
) -> None:
    await device("dev-1")
    attrs = answered(await server.write_attributes("dev-1", "/3/0/9", {"pmin": "5", "gt": "50"}))
    assert attrs.code is ResponseCode.CHANGED
    found = answered(await server.discover("dev-1", "/3/0"))
    assert found.code is ResponseCode.CONTENT and found.links is not None
    by_target = {link.target: dict(link.attributes) for link in found.links}
    assert by_target["/3/0/9"] == {"pmin": "5", "gt": "50"}
    assert by_target["/3/0/11"] == {"dim": "1"}
    bad = answered(await server.write_attributes("dev-1", "/3/0/9", {"pmin": "soon"}))
    assert bad.code is ResponseCode.BAD_REQUEST


async def test_create_and_delete_an_instance(server: Lwm2mServer, device: DeviceFactory) -> None:
    sim = await device("dev-1")
    account = ObjectInstance.of(
        1,
        SingleResource(0, ResourceType.INTEGER, 2),
        SingleResource(1, ResourceType.INTEGER, 60),
        SingleResource(6, ResourceType.BOOLEAN, False),
        SingleResource(7, ResourceType.STRING, "U"),
    )
    created = answered(await server.create("dev-1", "/1", account, ContentFormat.TLV))
    assert created.code is ResponseCode.CREATED and created.location == "/1/1"
    assert sim.tree.get("/1/1/1") == 60
    again = answered(await server.create("dev-1", "/1", account, ContentFormat.SENML_CBOR))
    assert again.code is ResponseCode.BAD_REQUEST
    assert answered(await server.delete("dev-1", "/1/1")).code is ResponseCode.DELETED
    assert 1 not in sim.tree.data[1]
    assert answered(await server.delete("dev-1", "/1/1")).code is ResponseCode.NOT_FOUND


async def test_read_composite(server: Lwm2mServer, device: DeviceFactory) -> None:
    await device("dev-1")
    for fmt in (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON):
        result = answered(await server.read_composite("dev-1", ["/3/0/0", "/32100/0/2"], fmt))
        assert result.code is ResponseCode.CONTENT, result.error
        assert result.nodes is not None
        values = {str(p): getattr(n, "value", None) for p, n in result.nodes.items()}
        assert values == {"/3/0/0": "lwm2m-mlaas", "/32100/0/2": BOARDS["nrf52840"].ml_ram}


@pytest.mark.parametrize("block_size", [64, 256, 512, 1024])
async def test_block1_push_at_the_size_the_device_accepts(
    server: Lwm2mServer, device: DeviceFactory, block_size: int
) -> None:
    sim: SimulatedDevice = await device("dev-1", block_size=block_size)
    package = bytes(range(256)) * 48  # 12 KiB: many blocks at any size
    result = answered(
        await server.write("dev-1", "/5/0/0", SingleResource(0, ResourceType.OPAQUE, package))
    )
    assert result.code is ResponseCode.CHANGED, result.error
    assert sim.firmware.package == package
    assert sim.firmware.state is FirmwareState.DOWNLOADED
    sent = [m.block1 for m in sim.messages if m.path == "/5/0/0"]
    blocks = [block for block in sent if block is not None]
    assert len(blocks) == len(sent)  # every block carried its Block1 option
    assert blocks[0] == (0, 512)  # the server starts at its 512-byte default ...
    expected = min(block_size, 512)  # ... and follows the device's smaller size after that
    assert {size for _, size in blocks[1:]} == {expected}
    assert 512 + expected * (len(blocks) - 1) >= len(package) > 512 + expected * (len(blocks) - 2)


@pytest.mark.parametrize("block_size", [64, 256, 1024])
async def test_block2_read_of_a_large_resource(
    server: Lwm2mServer, device: DeviceFactory, block_size: int
) -> None:
    sim = await device("dev-1", block_size=block_size)
    big = "x" * 11_000 + "end"
    sim.tree.set("/32101/0/3", big)
    result = answered(await server.read("dev-1", "/32101/0/3", ContentFormat.TEXT))
    assert result.code is ResponseCode.CONTENT
    assert result.node == SingleResource(3, ResourceType.STRING, big)
    requests = [m for m in sim.messages if m.path == "/32101/0/3"]
    assert requests[0].block2 is None  # the device answers with its own block size, then
    size = min(block_size, 512)  # the server asks on at that size or its own 512 if smaller
    offsets = range(block_size, len(big), size)
    assert [m.block2 for m in requests[1:]] == [(offset // size, size) for offset in offsets]


async def test_a_silent_device_times_out(server: Lwm2mServer, device: DeviceFactory) -> None:
    sim = await device("dev-1")
    await sim.stop(deregister=False)
    result = answered(await server.read("dev-1", "/3/0/0", timeout=0.5))
    assert result.timed_out
    assert result.code in (ResponseCode.GATEWAY_TIMEOUT, ResponseCode.SERVICE_UNAVAILABLE)


async def test_unknown_endpoint_is_a_typed_error(server: Lwm2mServer) -> None:
    from lwm2m_mlaas.core.errors import UnknownRegistration

    with pytest.raises(UnknownRegistration, match="No registered client with id 'ghost'"):
        await server.read("ghost", "/3/0")
