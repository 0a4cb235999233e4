"""The signing keyring (several Ed25519 keys, the newest active), packages re-signed with
another key, and trust statements: real keys, real files, real processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import pickle
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lwm2m_mlaas.compiler import (
    GoldenVector,
    Manifest,
    PackageMalformed,
    SignatureMismatch,
    TensorSpec,
    verify_package,
)
from lwm2m_mlaas.compiler.package import (
    SELF_DESCRIBED_CBOR,
    UntrustedKey,
    package_key_id,
    resign,
    sign1,
    trust_statement,
    verify_trust_statement,
)
from lwm2m_mlaas.compiler.signing import (
    KEY_FILE,
    PUBLIC_KEY_FILE,
    Keyring,
    Signer,
    key_id,
    load_public_key,
)


def _open_keyring(folder: Path) -> bytes:
    return Keyring(folder).active.key_id


def _rotate(folder: Path) -> bytes:
    return Keyring(folder).rotate().key_id


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def test_parallel_processes_share_one_original_key_and_rotate_without_losing_a_key(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "keys"
    with _pool(4) as pool:
        originals = set(pool.map(_open_keyring, [folder] * 8))
        assert len(originals) == 1  # they raced for signing-key.pem: one key won
        rotated = list(pool.map(_rotate, [folder] * 6))
    entries = Keyring(folder).entries()
    assert len(set(rotated)) == 6  # every rotation made its own key
    assert entries[0].key_id in originals
    assert {e.key_id for e in entries[1:]} == set(rotated)
    assert [e.position for e in entries] == list(range(7))
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    for entry in entries:
        assert stat.S_IMODE((folder / entry.name).stat().st_mode) == 0o600
    # devices are built with the original key until the service says otherwise
    published = load_public_key(folder / PUBLIC_KEY_FILE)
    assert key_id(published) == entries[0].key_id


def test_a_legacy_single_key_folder_becomes_the_keyrings_first_entry(tmp_path: Path) -> None:
    legacy = Signer(tmp_path)  # what earlier versions made: signing-key.pem and its .pub.pem
    pem = (tmp_path / KEY_FILE).read_bytes()
    ring = Keyring(tmp_path)
    assert [e.name for e in ring.entries()] == [KEY_FILE]
    assert ring.original.key_id == ring.active.key_id == legacy.key_id
    new = ring.rotate()
    assert (new.position, new.name) == (1, "signing-key-1.pem")
    assert ring.active == new and ring.original.key_id == legacy.key_id
    assert (tmp_path / KEY_FILE).read_bytes() == pem
    assert key_id(load_public_key(tmp_path / PUBLIC_KEY_FILE)) == legacy.key_id
    ring.publish(new.key_id)
    assert key_id(load_public_key(tmp_path / PUBLIC_KEY_FILE)) == new.key_id
    with pytest.raises(LookupError):
        ring.signer(b"\x00" * 8)


def test_signers_and_keyrings_pickle_as_the_same_key(tmp_path: Path) -> None:
    ring = Keyring(tmp_path)
    first = Signer(tmp_path)  # the active key: the original one
    revived = pickle.loads(pickle.dumps(first))
    ring.rotate()
    again = pickle.loads(pickle.dumps(first))  # still the key it was, not the new active one
    assert revived.key_id == again.key_id == first.key_id
    assert again.sign(b"x") == first.sign(b"x")
    assert Signer(tmp_path).key_id == ring.active.key_id != first.key_id
    copy = pickle.loads(pickle.dumps(ring))
    assert isinstance(copy, Keyring) and copy.entries() == ring.entries()
    with _pool(1) as pool:  # a worker process loads the very same key
        signature = pool.submit(first.sign, b"payload").result()
    first.public_key.verify(signature, b"payload")


def _package(signer: Signer) -> bytes:
    payload = bytes(range(200))
    spec = TensorSpec((1, 4), "int8", 0.5, 0)
    manifest = Manifest(
        model="m-s", version="m-s-1", task="m", kind="classification", variant="s",
        backend="tflm", device_class="nrf52840", payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).digest(), arena_bytes=1024, input=spec,
        output=spec, golden=(GoldenVector(b"\x00" * 4, b"\x01" * 4),), compiler="test",
        labels=("a", "b", "c", "d"), threshold=None,
    )  # fmt: skip
    cose = sign1(manifest.to_cbor(), signer)
    return cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR, [cose, payload]))


def _trusted(*signers: Signer) -> dict[bytes, Ed25519PublicKey]:
    return {s.key_id: s.public_key for s in signers}


def test_a_package_resigned_with_another_key_verifies_only_with_that_key(tmp_path: Path) -> None:
    ring = Keyring(tmp_path)
    old = ring.signer()
    new = ring.signer(ring.rotate().key_id)
    data = _package(old)
    again = resign(data, old.public_key, new)
    assert package_key_id(data) == old.key_id and package_key_id(again.data) == new.key_id
    manifest, payload = verify_package(again.data, new.public_key)
    assert manifest == verify_package(data, old.public_key)[0] and payload == bytes(range(200))
    assert resign(data, old.public_key, new).data == again.data  # Ed25519 is deterministic
    # a device holding keys by id picks the one the kid names
    assert verify_package(again.data, _trusted(old, new))[0] == manifest
    with pytest.raises(UntrustedKey, match=f"signed by {new.key_id.hex()}"):
        verify_package(again.data, _trusted(old))
    with pytest.raises(SignatureMismatch):
        verify_package(again.data, old.public_key)
    tampered = bytearray(data)
    tampered[-1] ^= 0xFF  # the payload's last byte: nothing is re-signed from a broken package
    with pytest.raises(Exception, match="SHA-256"):
        resign(bytes(tampered), old.public_key, new)


def test_a_trust_statement_names_a_key_signed_by_a_trusted_one(tmp_path: Path) -> None:
    ring = Keyring(tmp_path / "service")
    old = ring.signer()
    new = ring.signer(ring.rotate().key_id)
    stranger = Keyring(tmp_path / "stranger").signer()
    statement = trust_statement(new.public_key, old)
    learnt = verify_trust_statement(statement, _trusted(old))
    assert key_id(learnt) == new.key_id
    forged = trust_statement(stranger.public_key, stranger)
    with pytest.raises(UntrustedKey):
        verify_trust_statement(forged, _trusted(old))
    sign1_value = list(cbor2.loads(statement).value)  # the old key's id, a stranger's signature
    sign1_value[3] = cbor2.loads(trust_statement(new.public_key, stranger)).value[3]
    with pytest.raises(SignatureMismatch):
        verify_trust_statement(cbor2.dumps(cbor2.CBORTag(18, sign1_value)), _trusted(old))
    package_cose = cbor2.loads(_package(old))[0]  # a package's signed manifest is no statement
    with pytest.raises(PackageMalformed, match="not a trust statement"):
        verify_trust_statement(package_cose, _trusted(old))
    with pytest.raises(PackageMalformed):
        verify_trust_statement(b"\xa0", _trusted(old))
