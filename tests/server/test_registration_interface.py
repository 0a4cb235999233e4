"""Registration interface over real UDP on loopback (LwM2M 1.1 TS Transport 6.4)."""

from __future__ import annotations

import asyncio
import socket

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.server import EventKind, Lwm2mServer
from tests.helpers import wait_for

PAYLOADS = {
    "senml-cbor": "</>;ct=112,</1/0>,</3/0>,</5/0>",
    "json-rt": '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5/0>',
    "versioned": "</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>,</5/0>",
    "root-path": '</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5/0>',
    "plain": "</1/0>,</3/0>,</5/0>",
}


async def post(
    client: aiocoap.Context,
    server: Lwm2mServer,
    path: str,
    query: str = "",
    payload: str = "",
    code: Code = Code.POST,
) -> aiocoap.Message:
    uri = f"coap://127.0.0.1:{server.port}{path}" + (f"?{query}" if query else "")
    msg = aiocoap.Message(code=code, uri=uri, payload=payload.encode())
    if payload:
        msg.opt.content_format = 40
    return await client.request(msg).response


@pytest.mark.parametrize("form", sorted(PAYLOADS))
async def test_register_answers_created_with_two_location_path_options(
    client: aiocoap.Context, server: Lwm2mServer, form: str
) -> None:
    answer = await post(client, server, "/rd", "ep=node-1&lt=30&lwm2m=1.1&b=U", PAYLOADS[form])
    assert answer.code == Code.CREATED
    assert len(answer.opt.location_path) == 2
    assert answer.opt.location_path[0] == "rd"
    registration = server.registrations.by_endpoint("node-1")
    assert registration is not None
    assert registration.id == answer.opt.location_path[1]
    assert registration.lifetime == 30 and registration.lwm2m_version == "1.1"
    assert registration.available_instances == {1: (0,), 3: (0,), 5: (0,)}
    assert registration.root_path == ("/lwm2m/" if form == "root-path" else "/")
    async with server.store.transaction() as tx:
        assert await tx.registrations.get(registration.id) == registration


async def test_register_records_queue_mode_sms_and_extra_attributes(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    answer = await post(
        client, server, "/rd", "ep=q&lt=60&lwm2m=1.1&b=U&Q&sms=123&pos=a", PAYLOADS["plain"]
    )
    assert answer.code == Code.CREATED
    registration = server.registrations.by_endpoint("q")
    assert registration is not None
    assert registration.queue_mode and registration.binding == "U"
    assert registration.sms == "123"
    assert dict(registration.additional_attributes) == {"pos": "a"}


@pytest.mark.parametrize(
    ("query", "payload", "diagnostic"),
    [
        ("lt=30", PAYLOADS["plain"], "missing endpoint name"),
        ("ep=x&lt=abc", PAYLOADS["plain"], "lt='abc'"),
        ("ep=x&lt=-5", PAYLOADS["plain"], "lt='-5'"),
        ("ep=x&lt=30", "</3/0", "link"),
        ("ep=x&b=XZ", PAYLOADS["plain"], "binding"),
    ],
)
async def test_bad_register_is_refused_with_a_diagnostic(
    client: aiocoap.Context, server: Lwm2mServer, query: str, payload: str, diagnostic: str
) -> None:
    answer = await post(client, server, "/rd", query, payload)
    assert answer.code == Code.BAD_REQUEST
    assert diagnostic in answer.payload.decode()
    assert server.registrations.all() == []


async def test_update_lifetime_payload_and_deregister(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    events: list[EventKind] = []
    with server.events.listening(lambda e: events.append(e.kind)):
        created = await post(client, server, "/rd", "ep=u&lt=30", PAYLOADS["plain"])
        location = "/" + "/".join(created.opt.location_path)
        first = server.registrations.by_endpoint("u")
        assert first is not None

        assert (await post(client, server, location)).code == Code.CHANGED
        assert (await post(client, server, location, "lt=90")).code == Code.CHANGED
        changed = await post(client, server, location, "", "</1/0>,</3/0>,</5/0>,</32100/0>")
        assert changed.code == Code.CHANGED
        updated = server.registrations.by_endpoint("u")
        assert updated is not None
        assert updated.lifetime == 90
        assert 32100 in updated.available_instances
        assert updated.last_update >= first.last_update

        assert (await post(client, server, location, code=Code.DELETE)).code == Code.DELETED
        assert server.registrations.by_endpoint("u") is None
        await wait_for(lambda: EventKind.DEREGISTRATION in events)
    assert events == [
        EventKind.REGISTRATION,
        EventKind.UPDATED,
        EventKind.UPDATED,
        EventKind.UPDATED,
        EventKind.DEREGISTRATION,
    ]


async def test_unknown_registration_is_not_found(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    update = await post(client, server, "/rd/nope")
    assert update.code == Code.NOT_FOUND
    assert "nope" in update.payload.decode()
    assert (await post(client, server, "/rd/nope", code=Code.DELETE)).code == Code.NOT_FOUND


async def test_new_registration_of_same_endpoint_replaces_old(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    first = await post(client, server, "/rd", "ep=twice&lt=30", PAYLOADS["plain"])
    second = await post(client, server, "/rd", "ep=twice&lt=40", PAYLOADS["plain"])
    assert first.opt.location_path != second.opt.location_path
    registrations = server.registrations.all()
    assert [(r.endpoint, r.lifetime) for r in registrations] == [("twice", 40)]
    old_location = "/" + "/".join(first.opt.location_path)
    assert (await post(client, server, old_location)).code == Code.NOT_FOUND


async def test_registration_expires_after_lifetime_and_grace(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    expired: list[str] = []
    with server.events.listening(
        lambda e: expired.append(e.registration.endpoint) if e.kind is EventKind.EXPIRED else None
    ):
        await post(client, server, "/rd", "ep=brief&lt=1", PAYLOADS["plain"])
        await post(client, server, "/rd", "ep=long&lt=300", PAYLOADS["plain"])
        await wait_for(lambda: expired == ["brief"], timeout=6)
    assert [r.endpoint for r in server.registrations.all()] == ["long"]


async def test_junk_datagrams_and_methods_leave_the_server_up(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for junk in (b"", b"\x00", b"\xff" * 40, b"\x40\x02\x00\x01\xb2rd\xff"):
            raw.sendto(junk, ("127.0.0.1", server.port))
    await asyncio.sleep(0.1)
    assert (await post(client, server, "/rd", code=Code.GET)).code == Code.METHOD_NOT_ALLOWED
    assert (await post(client, server, "/rd/a/b")).code == Code.NOT_FOUND
    answer = await post(client, server, "/rd", "ep=still-up&lt=30", PAYLOADS["plain"])
    assert answer.code == Code.CREATED


async def test_well_known_core_lists_the_registration_interface(
    client: aiocoap.Context, server: Lwm2mServer
) -> None:
    answer = await post(client, server, "/.well-known/core", code=Code.GET)
    assert answer.code == Code.CONTENT
    assert '</rd>;rt="core.rd"' in answer.payload.decode()
