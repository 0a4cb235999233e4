"""Devices that answer block-wise uploads oddly: every Block1 exchange's code is checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiocoap
import aiocoap.resource as coap_resource
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.coap import bound_port, server_context
from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.nodes import ResourceType, SingleResource
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Lwm2mServer

Answer = Callable[[aiocoap.Message], aiocoap.Message]


class Peer(coap_resource.Resource, coap_resource.PathCapable):
    """A device that hands every raw block to `answer`."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.blocks: list[tuple[int, int]] = []

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        return False

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.block1 is not None:
            self.blocks.append((request.opt.block1.block_number, request.opt.block1.size))
        return self.answer(request)


StartPeer = Callable[[Answer], Awaitable[Peer]]
"""The `peer` fixture: `await peer(answer)` registers a device that answers with `answer`."""


@pytest.fixture
async def peer(server: Lwm2mServer) -> AsyncIterator[StartPeer]:
    contexts: list[aiocoap.Context] = []

    async def start(answer: Answer) -> Peer:
        resource = Peer(answer)
        context = await server_context(resource, "127.0.0.1", 0)
        contexts.append(context)
        msg = aiocoap.Message(
            code=Code.POST,
            uri=f"coap://127.0.0.1:{server.port}/rd?ep=odd&lt=60",
            payload=b"</5/0>",
        )
        created = await context.request(msg).response
        assert created.code == Code.CREATED and bound_port(context) > 0
        return resource

    yield start
    for context in contexts:
        await context.shutdown()


PACKAGE = SingleResource(0, ResourceType.OPAQUE, bytes(2000))


async def test_bare_continue_to_the_last_block_is_not_success(
    server: Lwm2mServer, peer: StartPeer
) -> None:
    def answer(request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.block1.more:
            reply = aiocoap.Message(code=Code.CONTINUE)
            reply.opt.block1 = request.opt.block1
            return reply
        return aiocoap.Message(code=Code.CONTINUE)  # no Block1 option, and not done

    device = await peer(answer)
    result = await server.write("odd", "/5/0/0", PACKAGE)
    assert isinstance(result, Response)
    assert result.code is ResponseCode.REQUEST_ENTITY_INCOMPLETE
    assert not result.success
    assert [n for n, _ in device.blocks] == [0, 1, 2, 3]


async def test_an_error_mid_upload_ends_it_with_that_error(
    server: Lwm2mServer, peer: StartPeer
) -> None:
    def answer(request: aiocoap.Message) -> aiocoap.Message:
        if request.opt.block1.block_number == 2:
            return aiocoap.Message(code=Code.INTERNAL_SERVER_ERROR, payload=b"flash write failed")
        reply = aiocoap.Message(code=Code.CONTINUE)
        reply.opt.block1 = request.opt.block1
        return reply

    device = await peer(answer)
    result = await server.write("odd", "/5/0/0", PACKAGE)
    assert isinstance(result, Response)
    assert result.code is ResponseCode.INTERNAL_SERVER_ERROR
    assert result.error == "flash write failed"
    assert [n for n, _ in device.blocks] == [0, 1, 2]


async def test_request_entity_too_large_makes_the_server_resend_smaller(
    server: Lwm2mServer, peer: StartPeer
) -> None:
    received = bytearray()

    def answer(request: aiocoap.Message) -> aiocoap.Message:
        block = request.opt.block1
        if block.size > 128:
            reply = aiocoap.Message(code=Code.REQUEST_ENTITY_TOO_LARGE)
            reply.opt.block1 = (0, False, 3)  # 128 bytes
            return reply
        received.extend(request.payload)
        reply = aiocoap.Message(code=Code.CONTINUE if block.more else Code.CHANGED)
        reply.opt.block1 = block
        return reply

    device = await peer(answer)
    result = await server.write("odd", "/5/0/0", PACKAGE)
    assert isinstance(result, Response)
    assert result.code is ResponseCode.CHANGED, result.error
    assert bytes(received) == PACKAGE.value
    assert device.blocks[0] == (0, 512)
    assert {size for _, size in device.blocks[1:]} == {128}


async def test_an_error_that_keeps_the_more_flag_still_ends_the_upload(
    server: Lwm2mServer, peer: StartPeer
) -> None:
    def answer(request: aiocoap.Message) -> aiocoap.Message:
        code = Code.FORBIDDEN if request.opt.block1.block_number == 1 else Code.CONTINUE
        reply = aiocoap.Message(code=code)
        reply.opt.block1 = request.opt.block1
        return reply

    device = await peer(answer)
    result = await server.write("odd", "/5/0/0", PACKAGE)
    assert isinstance(result, Response)
    assert result.code is ResponseCode.FORBIDDEN
    assert [n for n, _ in device.blocks] == [0, 1]


async def test_success_before_the_last_block_is_an_incomplete_upload(
    server: Lwm2mServer, peer: StartPeer
) -> None:
    device = await peer(lambda request: aiocoap.Message(code=Code.CHANGED))
    result = await server.write("odd", "/5/0/0", PACKAGE)
    assert isinstance(result, Response)
    assert result.code is ResponseCode.REQUEST_ENTITY_INCOMPLETE
    assert result.error is not None and "instead of 2.31 Continue" in result.error
    assert device.blocks == [(0, 512)]
