"""Stage 6: the signed package, its one verification function and the signing key."""

from __future__ import annotations

import hashlib
import pickle
import stat
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lwm2m_mlaas.compiler import (
    COMPILER_VERSION,
    Manifest,
    ManifestMismatch,
    Measured,
    Package,
    PackageMalformed,
    PayloadDigestMismatch,
    PayloadSizeMismatch,
    SignatureMismatch,
    Signer,
    UnsupportedAlgorithm,
    load_catalogue,
    package,
    verify,
    verify_package,
)
from lwm2m_mlaas.compiler.signing import KEY_FILE, PUBLIC_KEY_FILE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pkg(blobs_small: Measured, signer: Signer) -> Package:
    return package(verify(blobs_small), load_catalogue()["nrf52840"], signer)


def _parts(data: bytes) -> tuple[list[Any], bytes]:
    cose, payload = cbor2.loads(data)
    return list(cbor2.loads(cose).value), payload


def _assemble(sign1: list[Any], payload: bytes) -> bytes:
    cose = cbor2.dumps(cbor2.CBORTag(18, sign1))
    return cbor2.dumps(cbor2.CBORTag(55799, [cose, payload]))


def test_an_intact_package_verifies(pkg: Package, signer: Signer, blobs_small: Measured) -> None:
    manifest, payload = verify_package(pkg.data, signer.public_key)
    q = blobs_small.quantized
    assert payload == q.tflite
    assert manifest == pkg.manifest
    assert (manifest.model, manifest.version, manifest.task) == ("blobs-s", "blobs-s-1", "blobs")
    assert (manifest.backend, manifest.device_class, manifest.format) == ("tflm", "nrf52840", 1)
    assert manifest.payload_size == len(q.tflite)
    assert manifest.payload_sha256 == hashlib.sha256(q.tflite).digest()
    assert manifest.arena_bytes == blobs_small.arena_bytes
    assert (manifest.input, manifest.output) == (q.input, q.output)
    assert len(manifest.golden) == 4 and manifest.labels == ("a", "b", "c")
    assert manifest.compiler == COMPILER_VERSION
    assert pkg.data[:3] == bytes.fromhex("d9d9f7")
    assert pkg.id == hashlib.sha256(pkg.data).hexdigest()
    # the key as a PEM file or raw bytes works as well
    pem = (signer.folder / PUBLIC_KEY_FILE).read_bytes()
    assert verify_package(pkg.data, pem) == (manifest, payload)
    sign1, _ = _parts(pkg.data)
    assert cbor2.loads(sign1[0]) == {1: -8}
    assert sign1[1] == {4: signer.key_id, -65537: hashlib.sha256(sign1[2]).digest()}


def test_manifest_survives_cbor(pkg: Package) -> None:
    assert Manifest.from_cbor(pkg.manifest.to_cbor()) == pkg.manifest


def test_a_tampered_payload_is_a_digest_mismatch(pkg: Package, signer: Signer) -> None:
    sign1, payload = _parts(pkg.data)
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(PayloadDigestMismatch) as error:
        verify_package(_assemble(sign1, bytes(tampered)), signer.public_key)
    assert error.value.result == 5
    with pytest.raises(PayloadSizeMismatch):
        verify_package(_assemble(sign1, payload[:-1]), signer.public_key)


def test_a_tampered_manifest_and_a_tampered_signature_have_their_own_reasons(
    pkg: Package, signer: Signer
) -> None:
    sign1, payload = _parts(pkg.data)
    manifest = cbor2.loads(sign1[2])
    manifest["arena_bytes"] //= 2
    with pytest.raises(ManifestMismatch, match="manifest was altered") as error:
        verify_package(
            _assemble([*sign1[:2], cbor2.dumps(manifest), sign1[3]], payload), signer.public_key
        )
    assert error.value.result == 5
    signature = bytearray(sign1[3])
    signature[0] ^= 0x80
    with pytest.raises(SignatureMismatch, match="signature does not verify") as forged:
        verify_package(_assemble([*sign1[:3], bytes(signature)], payload), signer.public_key)
    assert type(forged.value) is SignatureMismatch and forged.value.result == 5
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureMismatch) as unknown_key:
        verify_package(pkg.data, other)
    assert type(unknown_key.value) is SignatureMismatch


def test_other_algorithms_and_malformed_packages(pkg: Package, signer: Signer) -> None:
    sign1, payload = _parts(pkg.data)
    es256 = cbor2.dumps({1: -7})
    with pytest.raises(UnsupportedAlgorithm) as error:
        verify_package(_assemble([es256, *sign1[1:]], payload), signer.public_key)
    assert error.value.result == 6
    with pytest.raises(UnsupportedAlgorithm):
        verify_package(_assemble([b"", *sign1[1:]], payload), signer.public_key)
    for garbage in (
        b"",
        b"\xff\x00",
        cbor2.dumps([1, 2]),
        pkg.data[:-10],
        pkg.data + b"\x00",
        cbor2.dumps([b"not cose", payload]),
        _assemble(sign1[:3], payload),
    ):
        with pytest.raises(PackageMalformed):
            verify_package(garbage, signer.public_key)


def test_the_signing_key_is_private_created_once_and_reused(tmp_path: Path) -> None:
    first = Signer(tmp_path / "keys")
    key = tmp_path / "keys" / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / PUBLIC_KEY_FILE).read_bytes().startswith(b"-----BEGIN PUBLIC")
    pem = key.read_bytes()
    second = Signer(tmp_path / "keys")
    assert key.read_bytes() == pem and second.key_id == first.key_id
    revived = pickle.loads(pickle.dumps(first))
    assert revived.key_id == first.key_id and revived.sign(b"x") == first.sign(b"x")
