"""OSCORE (RFC 8613), LwM2M 1.1's alternative to DTLS: a simulated device registers with its
OSCORE context over plain UDP, the server's requests go back protected with the same context,
the binding rule holds, and wrong keys, unknown kids and replays are refused. After a restart
the server resumes past every sequence number it may have used and needs no new session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.nodes import ObjectInstance, ResourceType, SingleResource
from lwm2m_mlaas.core.security import SEQUENCE_RESERVE, OscoreInfo, OscoreSetting
from lwm2m_mlaas.oscore import OscoreContext
from lwm2m_mlaas.server import Event, EventKind, Lwm2mServer, build_server
from lwm2m_mlaas.sim.device import DeviceConfig, SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import answered, node_as

SECRET = bytes(range(1, 17))


def setting(device_id: bytes, secret: bytes = SECRET) -> OscoreSetting:
    """The server's view: its Sender ID b"S", the device's `device_id`."""
    return OscoreSetting(b"S", device_id, secret, b"salt")


async def add_oscore(server: Lwm2mServer, endpoint: str, device_id: bytes) -> None:
    info = OscoreInfo(endpoint, setting(device_id))
    async with server.store.transaction() as tx:
        await tx.oscore.put(info)
    server.credentials.put_oscore(info)


Start = Callable[..., Awaitable[SimulatedDevice]]


@pytest.fixture
async def oscore_device(server: Lwm2mServer) -> AsyncIterator[Start]:
    """`await oscore_device(ep, device_id, secret=)`: a started device using OSCORE."""
    started: list[SimulatedDevice] = []

    async def start(endpoint: str, device_id: bytes, secret: bytes = SECRET,
                    timeout: float = 10.0) -> SimulatedDevice:  # fmt: skip
        device = SimulatedDevice(DeviceConfig(
            endpoint, server=f"coap://127.0.0.1:{server.port}",
            oscore=setting(device_id, secret).mirrored()), server.model)  # fmt: skip
        started.append(device)
        await device.start(register_timeout=timeout)
        return device

    yield start
    for device in started:
        await device.stop()


async def test_register_read_write_over_oscore(server: Lwm2mServer, oscore_device: Start) -> None:
    await add_oscore(server, "os-1", b"D1")
    device = await oscore_device("os-1", b"D1")
    registration = server.registrations.by_endpoint("os-1")
    assert registration is not None and registration.secure
    read = answered(await server.read("os-1", "/3/0"))
    assert read.success, read.error
    assert getattr(node_as(ObjectInstance, read).resources[2], "value", None) == "SN-os-1"
    written = answered(await server.write("os-1", "/1/0/1",
                                          SingleResource(1, ResourceType.INTEGER, 77)))  # fmt: skip
    assert written.success, written.error
    assert device.tree.get("/1/0/1") == 77
    # every exchange was protected: the device answered only OSCORE requests
    assert all(m.method in ("GET", "PUT", "POST") for m in device.messages)
    await device.update()
    assert server.registrations.by_endpoint("os-1") is not None


async def test_notifications_over_oscore(server: Lwm2mServer, oscore_device: Start) -> None:
    await add_oscore(server, "os-2", b"D2")
    device = await oscore_device("os-2", b"D2")
    values: list[object] = []

    def on_event(event: Event) -> None:
        if event.kind is EventKind.NOTIFICATION and event.data["response"].node is not None:
            values.append(event.data["response"].node.value)

    with server.events.listening(on_event):
        first = await server.observe("os-2", "/3/0/9")
        assert first.success, first.error
        device.tree.set("/3/0/9", 42)
        await wait_for(lambda: 42 in values)
        cancelled = await server.cancel_observation("os-2", "/3/0/9", active=True)
        assert cancelled.success, cancelled.error
        device.tree.set("/3/0/9", 43)
        await asyncio.sleep(0.5)
    assert 43 not in values


async def test_a_context_speaks_only_for_its_endpoint(
    server: Lwm2mServer, oscore_device: Start
) -> None:
    await add_oscore(server, "os-a", b"DA")
    await add_oscore(server, "os-b", b"DB")
    with pytest.raises(RuntimeError, match="belong to endpoint 'os-a'"):
        device = SimulatedDevice(DeviceConfig(
            "os-b", server=f"coap://127.0.0.1:{server.port}",
            oscore=setting(b"DA").mirrored()), server.model)  # fmt: skip
        try:
            await device.start(register_timeout=5)
        finally:
            await device.stop()
    assert server.registrations.by_endpoint("os-b") is None


async def test_nosec_refused_for_an_oscore_endpoint(server: Lwm2mServer) -> None:
    await add_oscore(server, "os-n", b"DN")
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        msg = aiocoap.Message(code=Code.POST, uri=f"coap://127.0.0.1:{server.port}/rd?ep=os-n",
                              payload=b"</3/0>")  # fmt: skip
        answer = await client.request(msg).response
    finally:
        await client.shutdown()
    assert answer.code == Code.FORBIDDEN
    assert b"OSCORE" in answer.payload


async def raw(server: Lwm2mServer, protected: aiocoap.Message) -> aiocoap.Message:
    """Send an already protected message over plain UDP and return the unprotected answer."""
    protected.set_request_uri(f"coap://127.0.0.1:{server.port}/")
    protected.opt.uri_path = ()
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        return await client.request(protected).response
    finally:
        await client.shutdown()


async def test_wrong_secret_and_unknown_kid_are_refused(server: Lwm2mServer) -> None:
    await add_oscore(server, "os-w", b"DW")
    register = aiocoap.Message(code=Code.POST, uri_path=["rd"], uri_query=["ep=os-w"])
    wrong = OscoreContext(setting(b"DW", bytes(16)).mirrored(), "server", 0)
    answer = await raw(server, wrong.protect(register)[0])
    assert answer.code == Code.BAD_REQUEST and b"Decryption failed" in answer.payload
    stranger = OscoreContext(setting(b"??").mirrored(), "server", 0)
    answer = await raw(server, stranger.protect(register.copy())[0])
    assert answer.code == Code.UNAUTHORIZED
    assert server.registrations.by_endpoint("os-w") is None


async def test_a_replayed_request_is_refused(server: Lwm2mServer, oscore_device: Start) -> None:
    """Once the server's replay window is set up by a real exchange, a captured request sent
    again is refused."""
    await add_oscore(server, "os-r", b"DR")
    device = await oscore_device("os-r", b"DR")
    assert device.location is not None
    context = OscoreContext(setting(b"DR").mirrored(), "server", 10**9)
    update = aiocoap.Message(code=Code.POST, uri_path=device.location.strip("/").split("/"))
    protected, _ = context.protect(update)
    first = await raw(server, protected)
    assert first.opt.oscore is not None  # a protected answer: accepted
    again = await raw(server, protected.copy(mid=None, token=None))
    assert again.code == Code.UNAUTHORIZED and b"Replay" in again.payload


async def test_restart_resumes_sequence_numbers_and_needs_no_session(
    server_config: ServerConfig,
) -> None:
    """After a restart the server reads the device at once (OSCORE needs no session), sending
    from past the reserved sequence numbers, and the device's next update passes Echo."""
    async with build_server(server_config) as first:
        await add_oscore(first, "os-s", b"DS")
        device = SimulatedDevice(DeviceConfig(
            "os-s", server=f"coap://127.0.0.1:{first.port}",
            oscore=setting(b"DS").mirrored()), first.model)  # fmt: skip
        await device.start()
        assert answered(await first.read("os-s", "/3/0/0")).success
    try:
        async with build_server(server_config) as second:
            context = second.credentials.oscore_context("os-s")
            assert context is not None
            assert context.sender_sequence_number >= SEQUENCE_RESERVE
            read = answered(await second.read("os-s", "/3/0/0"))
            assert read.success, read.error
            device.tree.set("/0/0/0", f"coap://127.0.0.1:{second.port}")  # its new port
            await device.open()
            await device.register()
            assert second.registrations.by_endpoint("os-s") is not None
    finally:
        await device.stop(deregister=False)


def test_key_derivation_matches_rfc_8613_test_vector_c_1_1() -> None:
    """RFC 8613 Appendix C.1.1 (client side): an independent check of the contexts we build."""
    context = OscoreContext(OscoreSetting(
        b"", b"\x01", bytes.fromhex("0102030405060708090a0b0c0d0e0f10"),
        bytes.fromhex("9e7ca92223786340")), "client", 0)  # fmt: skip
    assert context.sender_key.hex() == "f0910ed7295e6ad4b54fc793154302ff"
    assert context.recipient_key.hex() == "ffb14e093c94c9cac9471648b4f98710"
    assert context.common_iv.hex() == "4622d4dd6d944168eefb54987c"
