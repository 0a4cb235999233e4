"""libcoap's coap-client-openssl (Debian libcoap3-bin; OpenSSL's DTLS, not tinydtls) over
CoAPs with a pre-shared key: register, update, a Block2 download of a package, and a wrong
key refused."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from lwm2m_mlaas.core.security import SecurityInfo
from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers.processes import libcoap_client

pytestmark = pytest.mark.interop

CLIENT = "coap-client-openssl"
coap_client = partial(libcoap_client, CLIENT)
IDENTITY, KEY = "libcoap-dtls", b"0123456789abcdef"


async def credentials(server: Lwm2mServer) -> tuple[str, ...]:
    info = SecurityInfo("libcoap-s", IDENTITY, KEY)
    async with server.store.transaction() as tx:
        await tx.security.put(info)
    server.credentials.put(info)
    return ("-u", IDENTITY, "-k", KEY.decode())


async def test_register_update_and_download_over_dtls(
    server: Lwm2mServer, tmp_path: Path
) -> None:
    psk = await credentials(server)
    base = f"coaps://127.0.0.1:{server.dtls_port}"
    out, _ = await coap_client(*psk, "-v", "6", "-m", "post", "-t", "40", "-e",
                               "</>;ct=11543,</1/0>,</3/0>,</5/0>",
                               f"{base}/rd?ep=libcoap-s&lt=30&lwm2m=1.1")  # fmt: skip
    match = re.search(r"c:2\.01 .*\[ Location-Path:rd, Location-Path:(\w+) \]", out)
    assert match, out
    registration = await server.registration("libcoap-s")
    assert registration.secure and registration.id == match.group(1)
    out, _ = await coap_client(*psk, "-v", "6", "-m", "post",
                               f"{base}/rd/{registration.id}?lt=90")  # fmt: skip
    assert "c:2.04" in out
    assert (await server.registration("libcoap-s")).lifetime == 90

    package = bytes((i * 13 + i // 251) % 256 for i in range(9_000))
    server.packages.put("model-dtls.bin", package)
    target = tmp_path / "out.bin"
    out, _ = await coap_client(*psk, "-v", "6", "-b", "512", "-o", str(target), "-m", "get",
                               f"{base}/fw/model-dtls.bin")  # fmt: skip
    assert "2:0/M/512" in out, out
    assert target.read_bytes() == package


async def test_a_wrong_key_is_refused(server: Lwm2mServer) -> None:
    await credentials(server)
    out, _ = await coap_client("-u", IDENTITY, "-k", "fedcba9876543210", "-m", "post", "-t",
                                 "40", "-e", "</3/0>",
                                 f"coaps://127.0.0.1:{server.dtls_port}/rd?ep=libcoap-s&lt=30",
                                 ok=False)  # fmt: skip
    assert "2.01" not in out
    assert server.registrations.by_endpoint("libcoap-s") is None
