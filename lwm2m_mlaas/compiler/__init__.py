"""The TinyML compiler: quantize, check ops, measure on TFLite-Micro, fit, verify, package.

Each stage returns an immutable result (QuantizedModel -> Measured -> Fitted | NoFit ->
Verified -> Package); pipeline.compile_task() chains them for one device class. TensorFlow is
imported only inside quantize() and the desktop side of verify().
"""

from .fit import Fitted, NoFit, estimate_package_bytes, fit
from .manifest import BACKEND, FORMAT_VERSION, GoldenVector, Manifest, ManifestError, TensorSpec
from .measure import Measured, MeasureError, measure
from .ops import check_ops
from .package import (
    ManifestMismatch,
    Package,
    PackageError,
    PackageMalformed,
    PayloadDigestMismatch,
    PayloadSizeMismatch,
    SignatureMismatch,
    UnsupportedAlgorithm,
    package,
    verify_package,
)
from .pipeline import COMPILER_VERSION, Artifact, compile_measured, compile_task, measure_variant
from .quantize import QuantizedModel, QuantizeError, quantize
from .signing import Signer, load_public_key
from .targets import Capabilities, DeviceClass, classify, load_catalogue
from .verify import TOLERANCE_STEPS, VerificationError, Verified, verify

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_exported_members.py checks)
    "Artifact",
    "BACKEND",
    "COMPILER_VERSION",
    "Capabilities",
    "DeviceClass",
    "FORMAT_VERSION",
    "Fitted",
    "GoldenVector",
    "Manifest",
    "ManifestError",
    "ManifestMismatch",
    "MeasureError",
    "Measured",
    "NoFit",
    "Package",
    "PackageError",
    "PackageMalformed",
    "PayloadDigestMismatch",
    "PayloadSizeMismatch",
    "QuantizeError",
    "QuantizedModel",
    "SignatureMismatch",
    "Signer",
    "TOLERANCE_STEPS",
    "TensorSpec",
    "UnsupportedAlgorithm",
    "VerificationError",
    "Verified",
    "check_ops",
    "classify",
    "compile_measured",
    "compile_task",
    "estimate_package_bytes",
    "fit",
    "load_catalogue",
    "load_public_key",
    "measure",
    "measure_variant",
    "package",
    "quantize",
    "verify",
    "verify_package",
]
