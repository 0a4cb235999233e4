"""CoAPs with DTLS-PSK: registration over DTLS with credentials from the database, the binding
of identity to endpoint, NoSec refused for endpoints with credentials, and server requests
going back over the device's DTLS session. The peer is aiocoap's tinydtls client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.config import ServerConfig
from lwm2m_mlaas.core.nodes import SingleResource
from lwm2m_mlaas.core.security import SecurityInfo
from lwm2m_mlaas.server import Lwm2mServer, build_server
from tests.helpers.service import answered, node_as

KEY = b"sixteen-byte-psk"


async def add_credentials(server: Lwm2mServer, endpoint: str, identity: str, key: bytes) -> None:
    info = SecurityInfo(endpoint, identity, key)
    async with server.store.transaction() as tx:
        await tx.security.put(info)
    server.credentials.put(info)


class DeviceName(coap_resource.Resource):
    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=b"dtls-device", content_format=0)


@pytest.fixture
async def dtls_client() -> AsyncIterator[Any]:
    """`await dtls_client(port, identity, key)`: a DTLS client context that also serves
    /3/0/0 to the server over its session."""
    contexts: list[aiocoap.Context] = []

    async def create(port: int, identity: bytes, key: bytes) -> aiocoap.Context:
        context = await aiocoap.Context.create_client_context(transports=["tinydtls"])
        site = coap_resource.Site()
        site.add_resource(["3", "0", "0"], DeviceName())
        context.serversite = site
        context.client_credentials.load_from_dict({f"coaps://127.0.0.1:{port}/*": {
            "dtls": {"psk": key, "client-identity": identity}}})  # fmt: skip
        contexts.append(context)
        return context

    yield create
    for context in contexts:
        await context.shutdown()


async def request(context: aiocoap.Context, uri: str, code: Code = Code.POST,
                  payload: bytes = b"</3/0>") -> aiocoap.Message:  # fmt: skip
    message = aiocoap.Message(code=code, uri=uri, payload=payload)
    return await context.request(message).response


async def test_register_over_dtls_and_be_read_back(server: Lwm2mServer, dtls_client: Any) -> None:
    await add_credentials(server, "dev-s", "dev-s-id", KEY)
    port = server.dtls_port
    assert port is not None
    client = await dtls_client(port, b"dev-s-id", KEY)
    base = f"coaps://127.0.0.1:{port}"
    answer = await request(client, f"{base}/rd?ep=dev-s&lt=60")
    assert answer.code == Code.CREATED, answer.payload
    registration = server.registrations.by_endpoint("dev-s")
    assert registration is not None and registration.secure
    read = answered(await server.read("dev-s", "/3/0/0"))
    assert read.success, read.error
    assert node_as(SingleResource, read).value == "dtls-device"
    location = "/".join(answer.opt.location_path)
    assert (await request(client, f"{base}/{location}", payload=b"")).code == Code.CHANGED
    assert (await request(client, f"{base}/{location}", Code.DELETE, b"")).code == Code.DELETED
    assert server.registrations.by_endpoint("dev-s") is None


async def test_an_identity_speaks_only_for_its_endpoint(
    server: Lwm2mServer, dtls_client: Any
) -> None:
    await add_credentials(server, "dev-a", "id-a", b"key-a")
    await add_credentials(server, "dev-b", "id-b", b"key-b")
    port = server.dtls_port
    client = await dtls_client(port, b"id-a", b"key-a")
    answer = await request(client, f"coaps://127.0.0.1:{port}/rd?ep=dev-b&lt=60")
    assert answer.code == Code.FORBIDDEN
    assert b"belong to endpoint 'dev-a'" in answer.payload
    assert server.registrations.by_endpoint("dev-b") is None


async def test_nosec_is_refused_for_an_endpoint_with_credentials(server: Lwm2mServer) -> None:
    await add_credentials(server, "dev-n", "id-n", b"key-n")
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        answer = await request(client, f"coap://127.0.0.1:{server.port}/rd?ep=dev-n&lt=60")
        assert answer.code == Code.FORBIDDEN and b"must use DTLS" in answer.payload
        plain = await request(client, f"coap://127.0.0.1:{server.port}/rd?ep=dev-plain&lt=60")
        assert plain.code == Code.CREATED  # endpoints without credentials may use NoSec
    finally:
        await client.shutdown()


async def test_a_wrong_key_never_registers(server: Lwm2mServer, dtls_client: Any) -> None:
    await add_credentials(server, "dev-w", "id-w", b"right-key")
    port = server.dtls_port
    client = await dtls_client(port, b"id-w", b"wrong-key")
    with pytest.raises((aiocoap.error.Error, TimeoutError)):  # the handshake fails
        async with asyncio.timeout(8):
            await request(client, f"coaps://127.0.0.1:{port}/rd?ep=dev-w&lt=60")
    assert server.registrations.by_endpoint("dev-w") is None


async def test_nosec_can_be_switched_off(server_config: ServerConfig, dtls_client: Any) -> None:
    async with build_server(replace(server_config, coap_port=-1)) as server:
        with pytest.raises(RuntimeError, match="NoSec CoAP is off"):
            _ = server.port
        await add_credentials(server, "only-dtls", "id-o", b"key-o")
        client = await dtls_client(server.dtls_port, b"id-o", b"key-o")
        answer = await request(client, f"coaps://127.0.0.1:{server.dtls_port}/rd?ep=only-dtls")
        assert answer.code == Code.CREATED
        assert answered(await server.read("only-dtls", "/3/0/0")).success
    with pytest.raises(ValueError, match="needs CoAPs"):
        await build_server(replace(server_config, coap_port=-1, coaps_port=-1)).start()
