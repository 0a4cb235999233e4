"""Stage 6: the signed package a device downloads, and the one function that checks it.

Package file, one self-describing CBOR item (RFC 8949 tag 55799, so files start d9 d9 f7):

    55799([
        COSE_Sign1 bytes,   # bstr: RFC 9052 COSE_Sign1, tag 18:
                            #   [protected: bstr {1: -8 (EdDSA)},
                            #    unprotected: {4: key id, -65537: SHA-256 of the manifest},
                            #    payload: bstr (the manifest CBOR, see manifest.py),
                            #    signature: bstr Ed25519 over the Sig_structure
                            #    ["Signature1", protected, external_aad h'', payload]]
        payload bytes,      # bstr: the .tflite model (backend tflm) or the native module image
                            #   (backend native-<ABI>); the signed manifest holds its size and
                            #   SHA-256
    ])

The COSE object is carried as bytes, so any COSE library checks it as received. verify_package()
raises one PackageError subclass per failure; `result` is the LwM2M Firmware Update result
(/5/0/5) a device reports for it. The unsigned manifest digest (a private-use header) only names
the failure: when it no longer matches, the manifest was altered; when it matches but the
signature fails, the signature was (or another key signed). A device holding several keys picks
the one the kid header names. resign() seals the same manifest and payload with another key.

Trust statement (ML Capability /32100/0/10, Trust Key Update): a bare COSE_Sign1, tag 18,
[protected {1: -8, 3: TRUST_CONTENT_TYPE}, {4: kid of the signing key}, payload
{1: the new key's 32 raw bytes}, signature]. A device adds the new key only when a key it
already trusts signed the statement. The content type keeps a package's COSE_Sign1 from passing
for a statement.
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
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..core.firmware_update import FirmwareResult
from ._version import COMPILER_VERSION
from .manifest import BACKEND, Manifest, ManifestError
from .signing import EDDSA, Signer, load_public_key

if TYPE_CHECKING:  # devices verify packages without the compiler's TensorFlow side
    from .native import NativeModel
    from .targets import DeviceClass
    from .verify import Verified

SELF_DESCRIBED_CBOR = 55799
COSE_SIGN1 = 18
HEADER_ALG = 1
HEADER_CONTENT_TYPE = 3
HEADER_KID = 4
HEADER_MANIFEST_SHA256 = -65537
"""Private-use COSE header label (RFC 9052 section 16.2): SHA-256 of the manifest, unsigned."""
TRUST_CONTENT_TYPE = "application/vnd.lwm2m-mlaas.trust-key+cbor"
"""COSE content type of a trust statement."""
TRUST_NEW_KEY = 1
"""Trust statement payload label: the new key's 32 raw bytes."""

TrustedKeys = Mapping[bytes, Ed25519PublicKey]
"""A device's keys by key id."""


class PackageError(ValueError):
    result: FirmwareResult = FirmwareResult.INTEGRITY_FAILURE
    """LwM2M Firmware Update result (/5/0/5) a device reports for it."""


class PackageMalformed(PackageError):
    """Not a package: wrong CBOR structure, or a manifest that is not one."""

    result = FirmwareResult.UNSUPPORTED_PACKAGE


class UnsupportedAlgorithm(PackageError):
    """The signature uses an algorithm other than EdDSA (Ed25519), or names none."""

    result = FirmwareResult.UNSUPPORTED_PACKAGE


class SignatureMismatch(PackageError):
    """The signature does not verify over an unaltered manifest: the signature was altered or
    another key signed it."""


class UntrustedKey(SignatureMismatch):
    """Signed by a key the verifier does not hold (the kid header names no trusted key)."""


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


def package(verified: Verified, device_class: DeviceClass, signer: Signer,
            native: NativeModel | None = None) -> Package:  # fmt: skip
    """The signed package of the .tflite (TFLite-Micro), or of the native module when given."""
    q = verified.measured.quantized
    model = q.model
    payload = q.tflite if native is None else native.image
    manifest = Manifest(
        model=model.name,
        version=model.version,
        task=model.task,
        kind=str(model.kind),
        variant=model.variant,
        backend=BACKEND if native is None else native.runtime,
        device_class=device_class.name,
        payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).digest(),
        arena_bytes=verified.measured.arena_bytes if native is None else native.arena_bytes,
        input=q.input,
        output=q.output,
        golden=verified.golden,
        compiler=COMPILER_VERSION,
        labels=model.labels,
        threshold=model.threshold,
    )
    cose = sign1(manifest.to_cbor(), signer)
    return Package(manifest, cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR, [cose, payload])))


def sign1(payload: bytes, signer: Signer) -> bytes:
    """COSE_Sign1 (RFC 9052 section 4.2) over `payload`, with the signer's EdDSA key."""
    protected = cbor2.dumps({HEADER_ALG: signer.algorithm})
    signature = signer.sign(_sig_structure(protected, payload))
    unprotected = {
        HEADER_KID: signer.key_id,
        HEADER_MANIFEST_SHA256: hashlib.sha256(payload).digest(),
    }
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1, [protected, unprotected, payload, signature]))


def verify_package(
    data: bytes, public_key: Ed25519PublicKey | bytes | TrustedKeys
) -> tuple[Manifest, bytes]:
    """The manifest and payload of an intact package signed with `public_key` (a key object, PEM
    or 32 raw bytes, or trusted keys by key id); otherwise the PackageError naming what is
    wrong."""
    cose, payload = _outer(data)
    manifest_bytes, _headers = _open_sign1(cose, public_key)
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


def package_key_id(data: bytes) -> bytes | None:
    """The kid header of a package (unverified: it only says which key to check with)."""
    cose, _payload = _outer(data)
    _protected, unprotected, _manifest, _signature = _sign1_parts(cose)
    kid = unprotected.get(HEADER_KID)
    return kid if isinstance(kid, bytes) else None


def resign(data: bytes, verify_with: Ed25519PublicKey | bytes | TrustedKeys,
           signer: Signer) -> Package:  # fmt: skip
    """The same manifest and payload, signed with `signer`, once the package verifies with
    `verify_with`."""
    manifest, payload = verify_package(data, verify_with)
    signed = _sign1_parts(_outer(data)[0])[2]  # the manifest bytes exactly as first signed
    cose = sign1(signed, signer)
    return Package(manifest, cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBED_CBOR, [cose, payload])))


def trust_statement(new_key: Ed25519PublicKey | bytes, signer: Signer) -> bytes:
    """COSE_Sign1, signed by `signer`, asking a device that trusts it to trust `new_key` too."""
    raw = load_public_key(new_key).public_bytes(Encoding.Raw, PublicFormat.Raw)
    protected = cbor2.dumps({HEADER_ALG: signer.algorithm, HEADER_CONTENT_TYPE: TRUST_CONTENT_TYPE})
    payload = cbor2.dumps({TRUST_NEW_KEY: raw})
    signature = signer.sign(_sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1, [protected, {HEADER_KID: signer.key_id},
                                                  payload, signature]))  # fmt: skip


def verify_trust_statement(data: bytes, trusted: TrustedKeys) -> Ed25519PublicKey:
    """The new key of a trust statement signed by one of `trusted`; otherwise the PackageError
    naming what is wrong."""
    payload, headers = _open_sign1(data, trusted)
    if headers.get(HEADER_CONTENT_TYPE) != TRUST_CONTENT_TYPE:
        raise PackageMalformed(f"content type {headers.get(HEADER_CONTENT_TYPE)!r} is not a "
                               "trust statement")  # fmt: skip
    statement = _decode(payload, "trust statement")
    raw = statement.get(TRUST_NEW_KEY) if isinstance(statement, Mapping) else None
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise PackageMalformed("trust statement holds no 32-byte Ed25519 key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise PackageMalformed(f"trust statement key: {e}") from e


def _outer(data: bytes) -> tuple[bytes, bytes]:
    outer = _decode(data, "package")
    if (
        not isinstance(outer, list | tuple)
        or len(outer) != 2
        or not all(isinstance(item, bytes) for item in outer)
    ):
        raise PackageMalformed("package is not a CBOR array [COSE_Sign1 bytes, payload bytes]")
    return outer[0], outer[1]


def _sign1_parts(cose: bytes) -> tuple[bytes, Mapping[Any, Any], bytes, bytes]:
    sign1_value = _decode(cose, "COSE_Sign1")
    if isinstance(sign1_value, cbor2.CBORTag):
        if sign1_value.tag != COSE_SIGN1:
            raise PackageMalformed(f"COSE tag {sign1_value.tag}, expected {COSE_SIGN1}")
        sign1_value = sign1_value.value
    if not isinstance(sign1_value, list | tuple) or len(sign1_value) != 4:
        raise PackageMalformed("COSE_Sign1 is not a 4-element array")
    protected, unprotected, payload, signature = sign1_value
    if not (
        isinstance(protected, bytes)
        and isinstance(unprotected, Mapping)
        and isinstance(payload, bytes)
        and isinstance(signature, bytes)
    ):
        raise PackageMalformed("COSE_Sign1 elements have the wrong types")
    return protected, unprotected, payload, signature


def _open_sign1(
    cose: bytes, keys: Ed25519PublicKey | bytes | TrustedKeys
) -> tuple[bytes, Mapping[Any, Any]]:
    """The payload and protected headers of a COSE_Sign1 that verifies with `keys` (one key,
    or keys by id: the kid header picks one)."""
    protected, unprotected, payload, signature = _sign1_parts(cose)
    headers = _decode(protected, "protected header") if protected else {}
    if not isinstance(headers, Mapping):
        raise PackageMalformed("protected header is not a map")
    algorithm = headers.get(HEADER_ALG)
    if algorithm != EDDSA:
        raise UnsupportedAlgorithm(f"signature algorithm {algorithm!r}, only EdDSA ({EDDSA})")
    if isinstance(keys, Mapping):
        kid = unprotected.get(HEADER_KID)
        found = keys.get(kid) if isinstance(kid, bytes) else None
        if found is None:
            named = kid.hex() if isinstance(kid, bytes) else "no key id"
            raise UntrustedKey(f"signed by {named}, not a trusted key")
        key = found
    else:
        key = load_public_key(keys)
    try:
        key.verify(signature, _sig_structure(protected, payload))
    except InvalidSignature:
        recorded = unprotected.get(HEADER_MANIFEST_SHA256)
        if isinstance(recorded, bytes) and recorded != hashlib.sha256(payload).digest():
            raise ManifestMismatch("manifest was altered after signing") from None
        raise SignatureMismatch("signature does not verify with this key") from None
    return payload, headers


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
