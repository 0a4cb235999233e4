"""Stage 6: the signed package a device downloads, and the one function that checks it.

Package file, one self-describing CBOR item (RFC 8949 tag 55799, so files start d9 d9 f7):

    55799([
        COSE_Sign1 bytes,   # bstr: RFC 9052 COSE_Sign1, tag 18:
                            #   [protected: bstr {1: -8 (EdDSA)},
                            #    unprotected: {4: key id, -65537: SHA-256 of the manifest},
                            #    payload: bstr (the manifest CBOR, see manifest.py),
                            #    signature: bstr Ed25519 over the Sig_structure
                            #    ["Signature1", protected, external_aad h'', payload]]
        payload bytes,      # bstr: the .tflite model; the signed manifest holds its size and
                            #   SHA-256
    ])

The COSE object is carried as bytes, so any COSE library checks it as received. verify_package()
raises one PackageError subclass per failure; `result` is the LwM2M Firmware Update result
(/5/0/5) a device reports for it. The unsigned manifest digest (a private-use header) only names
the failure: when it no longer matches, the manifest was altered; when it matches but the
signature fails, the signature was (or another key signed).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._version import COMPILER_VERSION
from .manifest import BACKEND, Manifest, ManifestError
from .signing import EDDSA, Signer, load_public_key

if TYPE_CHECKING:  # devices verify packages without the compiler's TensorFlow side
    from .targets import DeviceClass
    from .verify import Verified

SELF_DESCRIBED_CBOR = 55799
COSE_SIGN1 = 18
HEADER_ALG = 1
HEADER_KID = 4
HEADER_MANIFEST_SHA256 = -65537
"""Private-use COSE header label (RFC 9052 section 16.2): SHA-256 of the manifest, unsigned."""


class PackageError(ValueError):
    result = 5
    """LwM2M Firmware Update result: 5 integrity check failure."""


class PackageMalformed(PackageError):
    """Not a package: wrong CBOR structure, or a manifest that is not one."""

    result = 6  # unsupported package type


class UnsupportedAlgorithm(PackageError):
    """The signature uses an algorithm other than EdDSA (Ed25519), or names none."""

    result = 6


class SignatureMismatch(PackageError):
    """The signature does not verify over an unaltered manifest: the signature was altered or
    another key signed it."""


class ManifestMismatch(SignatureMismatch):
    """The manifest is not the one that was signed: it was altered after signing."""


class PayloadSizeMismatch(PackageError):
    """The payload is not as long as the signed manifest says."""


class PayloadDigestMismatch(PackageError):
    """The payload's SHA-256 is not the one in the signed manifest."""


@dataclass(frozen=True, slots=True)
class Package:
    manifest: Manifest
    data: bytes = field(repr=False)
    """The package file."""

    @property
    def id(self) -> str:
        """SHA-256 of the package file, hex: its content address."""
        return hashlib.sha256(self.data).hexdigest()


def package(verified: Verified, device_class: DeviceClass, signer: Signer) -> Package:
    q = verified.measured.quantized
    model = q.model
    manifest = Manifest(
        model=model.name,
        version=model.version,
        task=model.task,
        kind=str(model.kind),
        variant=model.variant,
        backend=BACKEND,
        device_class=device_class.name,
        payload_size=len(q.tflite),
        payload_sha256=hashlib.sha256(q.tflite).digest(),
        arena_bytes=verified.measured.arena_bytes,
        input=q.input,
        output=q.output,
        golden=verified.golden,
        compiler=COMPILER_VERSION,
        labels=model.labels,
        threshold=model.threshold,
    )
    cose = sign1(manifest.to_cbor(), signer)
    return Package(manifest, cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR, [cose, q.tflite])))


def sign1(payload: bytes, signer: Signer) -> bytes:
    """COSE_Sign1 (RFC 9052 section 4.2) over `payload`, with the signer's EdDSA key."""
    protected = cbor2.dumps({HEADER_ALG: signer.algorithm})
    signature = signer.sign(_sig_structure(protected, payload))
    unprotected = {
        HEADER_KID: signer.key_id,
        HEADER_MANIFEST_SHA256: hashlib.sha256(payload).digest(),
    }
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1, [protected, unprotected, payload, signature]))


def verify_package(data: bytes, public_key: Ed25519PublicKey | bytes) -> tuple[Manifest, bytes]:
    """The manifest and payload of an intact package signed with `public_key` (a key object, PEM
    or 32 raw bytes); otherwise the PackageError naming what is wrong."""
    key = load_public_key(public_key)
    outer = _decode(data, "package")
    if (
        not isinstance(outer, list | tuple)
        or len(outer) != 2
        or not all(isinstance(item, bytes) for item in outer)
    ):
        raise PackageMalformed("package is not a CBOR array [COSE_Sign1 bytes, payload bytes]")
    cose, payload = outer
    sign1_value = _decode(cose, "COSE_Sign1")
    if isinstance(sign1_value, cbor2.CBORTag):
        if sign1_value.tag != COSE_SIGN1:
            raise PackageMalformed(f"COSE tag {sign1_value.tag}, expected {COSE_SIGN1}")
        sign1_value = sign1_value.value
    if not isinstance(sign1_value, list | tuple) or len(sign1_value) != 4:
        raise PackageMalformed("COSE_Sign1 is not a 4-element array")
    protected, unprotected, manifest_bytes, signature = sign1_value
    if not (
        isinstance(protected, bytes)
        and isinstance(unprotected, Mapping)
        and isinstance(manifest_bytes, bytes)
        and isinstance(signature, bytes)
    ):
        raise PackageMalformed("COSE_Sign1 elements have the wrong types")
    headers = _decode(protected, "protected header") if protected else {}
    if not isinstance(headers, Mapping):
        raise PackageMalformed("protected header is not a map")
    algorithm = headers.get(HEADER_ALG)
    if algorithm != EDDSA:
        raise UnsupportedAlgorithm(f"signature algorithm {algorithm!r}, only EdDSA ({EDDSA})")
    try:
        key.verify(signature, _sig_structure(protected, manifest_bytes))
    except InvalidSignature:
        recorded = unprotected.get(HEADER_MANIFEST_SHA256)
        if isinstance(recorded, bytes) and recorded != hashlib.sha256(manifest_bytes).digest():
            raise ManifestMismatch("manifest was altered after signing") from None
        raise SignatureMismatch("signature does not verify with this key") from None
    try:
        manifest = Manifest.from_cbor(manifest_bytes)
    except ManifestError as e:
        raise PackageMalformed(str(e)) from e
    if len(payload) != manifest.payload_size:
        raise PayloadSizeMismatch(
            f"payload is {len(payload)} bytes, manifest says {manifest.payload_size}"
        )
    if hashlib.sha256(payload).digest() != manifest.payload_sha256:
        raise PayloadDigestMismatch("payload SHA-256 differs from the manifest's")
    return manifest, payload


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _decode(data: bytes, what: str) -> Any:
    """Exactly one CBOR item, nothing after it."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, RecursionError) as e:
        raise PackageMalformed(f"{what} is not CBOR: {e}") from e
    if stream.tell() != len(data):
        raise PackageMalformed(f"{len(data) - stream.tell()} bytes after the {what}")
    return value
