"""The simulated device's package signing keys over real CoAP: it lists the key ids it trusts in
/32100/0/9 and learns a key from a trust statement written to /32100/0/10 only when a key it
already trusts signed it; firmware without those resources behaves as such firmware would."""

from __future__ import annotations

from pathlib import Path

from lwm2m_mlaas.compiler.package import trust_statement
from lwm2m_mlaas.compiler.signing import Keyring, Signer
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.nodes import MultiResource, ResourceType, SingleResource
from lwm2m_mlaas.core.requests import Response
from lwm2m_mlaas.server import Lwm2mServer
from tests.helpers import wait_for
from tests.helpers.service import DeviceFactory


def _keys(tmp_path: Path) -> tuple[Signer, Signer, Signer]:
    ring = Keyring(tmp_path / "keys")
    old = ring.signer()
    new = ring.signer(ring.rotate().key_id)
    return old, new, Keyring(tmp_path / "stranger").signer()


async def _write(server: Lwm2mServer, endpoint: str, statement: bytes) -> Response:
    written = await server.write(endpoint, "/32100/0/10",
                                 SingleResource(10, ResourceType.OPAQUE, statement),
                                 content_format=ContentFormat.OPAQUE)  # fmt: skip
    assert isinstance(written, Response)
    return written


async def _trusted(server: Lwm2mServer, endpoint: str) -> list[str]:
    read = await server.read(endpoint, "/32100/0/9")
    assert isinstance(read, Response) and isinstance(read.node, MultiResource), read
    return [str(v) for v in read.node.instances.values()]


async def test_a_trusted_key_hands_trust_to_a_new_one_and_nothing_else_does(
    server: Lwm2mServer, device: DeviceFactory, tmp_path: Path
) -> None:
    old, new, stranger = _keys(tmp_path)
    sim = await device("trusting", trust_key=old.public_key.public_bytes_raw())
    assert await _trusted(server, "trusting") == [old.key_id.hex()]
    found = await server.discover("trusting", "/32100/0")
    assert isinstance(found, Response) and found.links is not None
    assert "/32100/0/10" in {link.target for link in found.links}

    refused = [
        trust_statement(stranger.public_key, stranger),  # signed by a key it does not trust
        trust_statement(new.public_key, stranger),
        b"\xd2\x84\x40\xa0\x40\x40",  # an empty COSE_Sign1
        b"not cbor",
    ]
    for statement in refused:
        answer = await _write(server, "trusting", statement)
        assert answer.code == ResponseCode.BAD_REQUEST, answer
        assert await _trusted(server, "trusting") == [old.key_id.hex()]
    assert set(sim.ml.trusted) == {old.key_id}

    notified = await server.observe("trusting", "/32100/0/9")
    assert notified.success
    answer = await _write(server, "trusting", trust_statement(new.public_key, old))
    assert answer.code == ResponseCode.CHANGED
    assert await _trusted(server, "trusting") == [old.key_id.hex(), new.key_id.hex()]
    assert set(sim.ml.trusted) == {old.key_id, new.key_id}
    seen: list[object] = []
    with server.events.listening(lambda e: seen.append(e.data.get("path"))):
        third = Keyring(tmp_path / "keys").rotate()
        signer = Keyring(tmp_path / "keys").signer(third.key_id)
        await _write(server, "trusting", trust_statement(signer.public_key, new))  # chained
        await wait_for(lambda: any(str(p) == "/32100/0/9" for p in seen))
    assert len(await _trusted(server, "trusting")) == 3


async def test_older_firmware_neither_lists_keys_nor_takes_statements(
    server: Lwm2mServer, device: DeviceFactory, tmp_path: Path
) -> None:
    old, new, _stranger = _keys(tmp_path)
    sim = await device("legacy", trust_key=old.public_key.public_bytes_raw(),
                       reports_trusted_keys=False, trust_updates=False)  # fmt: skip
    read = await server.read("legacy", "/32100/0/9")
    assert isinstance(read, Response) and read.code == ResponseCode.NOT_FOUND
    found = await server.discover("legacy", "/32100/0")
    assert isinstance(found, Response) and found.links is not None
    assert not {"/32100/0/9", "/32100/0/10"} & {link.target for link in found.links}
    answer = await _write(server, "legacy", trust_statement(new.public_key, old))
    assert answer.code == ResponseCode.NOT_FOUND
    assert set(sim.ml.trusted) == {old.key_id}
    assert 10 not in sim.tree.data[32100][0]
