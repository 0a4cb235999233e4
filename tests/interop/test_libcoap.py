"""libcoap's coap-client-notls (Debian libcoap3-bin), an independent CoAP implementation, as an
LwM2M client: register, update, de-register, and a Block2 read of a package over 10 KB."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers.processes import libcoap_client

pytestmark = pytest.mark.interop

CLIENT = "coap-client-notls"
coap_client = partial(libcoap_client, CLIENT)


async def test_register_update_deregister(server: Lwm2mServer) -> None:
    base = f"coap://127.0.0.1:{server.port}"
    out, _ = await coap_client(
        "-v",
        "6",
        "-m",
        "post",
        "-t",
        "40",
        "-e",
        "</>;ct=112,</1/0>,</3/0>,</5/0>",
        f"{base}/rd?ep=libcoap-1&lt=30&lwm2m=1.1&b=U",
    )
    match = re.search(r"c:2\.01 .*\[ Location-Path:rd, Location-Path:(\w+) \]", out)
    assert match, out
    registration_id = match.group(1)
    registration = await server.registration("libcoap-1")
    assert registration.id == registration_id
    assert registration.available_instances == {1: (0,), 3: (0,), 5: (0,)}

    out, _ = await coap_client(
        "-v",
        "6",
        "-m",
        "post",
        "-t",
        "40",
        "-e",
        "</1/0>,</3/0>",
        f"{base}/rd/{registration_id}?lt=90",
    )
    assert "c:2.04" in out
    updated = await server.registration("libcoap-1")
    assert updated.lifetime == 90 and updated.available_instances == {1: (0,), 3: (0,)}

    out, _ = await coap_client("-v", "6", "-m", "delete", f"{base}/rd/{registration_id}")
    assert "c:2.02" in out
    assert server.registrations.all() == []


async def test_bad_register_gets_a_diagnostic(server: Lwm2mServer) -> None:
    _, err = await coap_client(
        "-m", "post", "-t", "40", "-e", "</3/0>", f"coap://127.0.0.1:{server.port}/rd?lt=30"
    )
    assert "4.00" in err and "missing endpoint name" in err
    _, err = await coap_client("-m", "post", f"coap://127.0.0.1:{server.port}/rd/unknown")
    assert "4.04" in err


async def test_block2_read_of_a_large_package(server: Lwm2mServer, tmp_path: Path) -> None:
    package = bytes((i * 7 + i // 256) % 256 for i in range(12_345))
    server.packages.put("model-1.bin", package)
    target = tmp_path / "out.bin"
    out, _ = await coap_client(
        "-v",
        "6",
        "-b",
        "512",
        "-o",
        str(target),
        "-m",
        "get",
        f"coap://127.0.0.1:{server.port}/fw/model-1.bin",
    )
    assert "Block2:0/M/512" in out or "2:0/M/512" in out, out
    assert target.read_bytes() == package
    _, err = await coap_client("-m", "get", f"coap://127.0.0.1:{server.port}/fw/missing.bin")
    assert "4.04" in err
