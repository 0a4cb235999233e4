"""The public surface of each package is exactly its __all__ (httpx's test_exported_members.py)."""

from __future__ import annotations

import types

import pytest

import lwm2m_mlaas.api
import lwm2m_mlaas.compiler
import lwm2m_mlaas.server
import lwm2m_mlaas.sim
import lwm2m_mlaas.store
import lwm2m_mlaas.zoo

EXPECTED = {
    lwm2m_mlaas.zoo: [
        "DataShapeMismatch",
        "MissingRepresentativeData",
        "ModelImportError",
        "NotInt8Model",
        "TaskKind",
        "UnknownModel",
        "UnknownModelFormat",
        "Zoo",
        "ZooModel",
        "quality",
    ],
    lwm2m_mlaas.compiler: sorted(
        [
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
    ),
    lwm2m_mlaas.api: ["ApiServer", "build_app", "load_token"],
    lwm2m_mlaas.server: ["Event", "EventBus", "EventKind", "Lwm2mServer", "Queued", "build_server"],
    lwm2m_mlaas.store: [
        "ArtifactStore",
        "BootstrapStore",
        "DeliveryStore",
        "DeviceStore",
        "KeyStore",
        "LeaseStore",
        "NodeStore",
        "ObservationStore",
        "OscoreStore",
        "RegistrationStore",
        "RequestQueue",
        "RolloutStore",
        "SecurityStore",
        "Store",
        "Transaction",
        "TrustStore",
        "WriteBatcher",
    ],
    lwm2m_mlaas.sim: [
        "BOARDS",
        "BoardProfile",
        "DeviceConfig",
        "SimulatedDevice",
    ],
}


@pytest.mark.parametrize("package", list(EXPECTED), ids=lambda p: p.__name__)
def test_all_is_the_expected_sorted_list(package: types.ModuleType) -> None:
    assert package.__all__ == EXPECTED[package]
    assert sorted(package.__all__) == package.__all__


@pytest.mark.parametrize("package", list(EXPECTED), ids=lambda p: p.__name__)
def test_all_imports_are_exported(package: types.ModuleType) -> None:
    public = sorted(
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    assert public == package.__all__
    for name in package.__all__:
        value = getattr(package, name)
        if isinstance(value, type) or callable(value):
            assert value.__module__.startswith(package.__name__ + "."), name
