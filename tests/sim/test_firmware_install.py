"""The simulated device installs real packages (the MLPerf Tiny KWS model compiled and signed
here) through object 5 as the server drives it, reports each result truthfully, and runs the
model on TFLite-Micro."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import aiocoap
import aiocoap.resource as coap_resource
import cbor2
import pytest
from aiocoap.numbers.codes import Code

from lwm2m_mlaas.coap import server_context
from lwm2m_mlaas.compiler import (
    Artifact,
    Manifest,
    PayloadDigestMismatch,
    Signer,
    compile_task,
    load_catalogue,
    verify_package,
)
from lwm2m_mlaas.compiler.package import sign1
from lwm2m_mlaas.core.ddf import load_default
from lwm2m_mlaas.core.errors import Lwm2mError, ResponseCode
from lwm2m_mlaas.core.firmware_update import FirmwareResult, FirmwareState
from lwm2m_mlaas.core.nodes import ResourceType as T
from lwm2m_mlaas.core.nodes import SingleResource
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.sim import BOARDS, DeviceConfig, SimulatedDevice
from lwm2m_mlaas.sim.firmware import flip_payload_byte
from lwm2m_mlaas.zoo import TaskKind, Zoo
from tests.helpers import MLPERF_TINY, wait_for
from tests.helpers.packages import push_package

P = Lwm2mPath.parse
MODEL = load_default()
KWS = MLPERF_TINY / "kws_ref_model.tflite"
BOARD = BOARDS["mps2-an386"]
KWS_OUTPUTS = {str(i) for i in range(12)}  # an imported model without labels: class indices


@dataclass(frozen=True)
class Built:
    artifact: Artifact
    package: bytes
    signer: Signer
    trust_key: bytes

    @property
    def parts(self) -> tuple[Manifest, bytes]:
        return verify_package(self.package, self.trust_key)

    def signed(self, manifest: Manifest) -> bytes:
        """A package with `manifest`, signed with the service's key."""
        cose = sign1(manifest.to_cbor(), self.signer)
        return cbor2.dumps(cbor2.CBORTag(55799, [cose, self.parts[1]]))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("kws")
    model = Zoo(tmp / "zoo").import_model(KWS, "keyword-spotting", kind=TaskKind.CLASSIFICATION)
    signer = Signer(tmp / "keys")
    artifact = compile_task([model], load_catalogue()["mps2-an386"], signer, tmp / "packages")
    assert isinstance(artifact, Artifact)
    trust_key = (tmp / "keys" / "signing-key.pub.pem").read_bytes()
    return Built(artifact, artifact.package_path.read_bytes(), signer, trust_key)


@pytest.fixture
def devices() -> Iterator[Callable[..., SimulatedDevice]]:
    made: list[SimulatedDevice] = []

    def make(built: Built | None = None, **options: Any) -> SimulatedDevice:
        config = DeviceConfig(
            "ml-1",
            board=BOARD,
            trust_key=None if built is None else built.trust_key,
            inference_interval=0.02,
        )
        device = SimulatedDevice(replace(config, **options), MODEL)
        made.append(device)
        return device

    yield make
    for device in made:
        device.ml.stop()


def record(device: SimulatedDevice) -> list[tuple[str, object]]:
    """Every change of /5/0/3 and /5/0/5 as observers see it."""
    changes: list[tuple[str, object]] = []

    def changed(path: Lwm2mPath) -> None:
        if str(path) in ("/5/0/3", "/5/0/5"):
            changes.append((str(path), device.tree.get(str(path))))

    device.tree.listeners.append(changed)
    return changes


async def install(device: SimulatedDevice, package: bytes) -> FirmwareResult:
    """Push, execute /5/0/2 and wait for the device to be IDLE again; the result."""
    push_package(device, package)
    assert state(device) is FirmwareState.DOWNLOADED
    device.tree.execute(P("/5/0/2"), "")
    assert state(device) is FirmwareState.UPDATING
    await wait_for(lambda: state(device) is FirmwareState.IDLE, timeout=20)
    result = device.tree.get("/5/0/5")
    assert isinstance(result, int)
    return FirmwareResult(result)


def state(device: SimulatedDevice) -> FirmwareState:
    return device.firmware.state


def ml_objects(device: SimulatedDevice) -> list[object]:
    return [device.tree.get(p) for p in ("/32100/0/6", "/32100/0/7", "/32101/0/0", "/32101/0/1")]


def count(device: SimulatedDevice) -> int:
    value = device.tree.get("/32101/0/2")
    assert isinstance(value, int)
    return value


async def test_install_then_infer(built: Built, devices: Callable[..., SimulatedDevice]) -> None:
    device = devices(built)
    tree = device.tree
    changes = record(device)
    assert await install(device, built.package) is FirmwareResult.SUCCESS
    # Zephyr's sequence: DOWNLOADED, UPDATING on execute, then IDLE with the result
    assert changes == [("/5/0/3", 2), ("/5/0/3", 3), ("/5/0/3", 0), ("/5/0/5", 1)]
    package_id = hashlib.sha256(built.package).hexdigest()
    assert package_id == built.artifact.id
    assert (tree.get("/5/0/6"), tree.get("/5/0/7")) == ("kws_ref_model", package_id)
    version = built.artifact.model_version
    assert ml_objects(device) == ["kws_ref_model", version, "kws_ref_model", version]

    await wait_for(lambda: count(device) >= 3, timeout=10)
    assert tree.get("/32101/0/3") in KWS_OUTPUTS
    score, latency = tree.get("/32101/0/4"), tree.get("/32101/0/5")
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    assert isinstance(latency, int) and latency > 0

    tree.write(P("/32101/0/6"), SingleResource(6, T.BOOLEAN, False), replace=True)
    paused = count(device)
    await asyncio.sleep(0.15)
    assert count(device) == paused
    tree.execute(P("/32101/0/7"), "")
    assert [tree.get(f"/32101/0/{r}") for r in (2, 3, 4, 5)] == [0, "", 0.0, 0]
    tree.write(P("/32101/0/6"), SingleResource(6, T.BOOLEAN, True), replace=True)
    await wait_for(lambda: count(device) >= 2, timeout=10)

    # a package that fails leaves the running model running
    tampered = flip_payload_byte(built.package, random.Random(0))
    assert await install(device, tampered) is FirmwareResult.INTEGRITY_FAILURE
    assert tree.get("/5/0/7") == package_id
    running = count(device)
    await wait_for(lambda: count(device) > running, timeout=10)


def tampered_manifest(built: Built) -> bytes:
    """The manifest altered after signing (a larger arena), signature kept."""
    cose, payload = cbor2.loads(built.package)  # cbor2 drops the self-describing tag
    sign1_value = cbor2.loads(cose)
    protected, unprotected, manifest, signature = sign1_value.value
    altered = replace(Manifest.from_cbor(manifest), arena_bytes=1_000).to_cbor()
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, altered, signature]))
    return cbor2.dumps(cbor2.CBORTag(55799, [cose, payload]))


def wrong_golden(built: Built) -> bytes:
    manifest = built.parts[0]
    golden = manifest.golden[0]
    wrong = replace(golden, output=bytes(b ^ 1 for b in golden.output))
    return built.signed(replace(manifest, golden=(wrong, *manifest.golden[1:])))


CASES: dict[str, tuple[Callable[[Built], bytes], dict[str, Any], FirmwareResult]] = {
    "storage": (lambda b: b.package, {"board": replace(BOARD, ml_flash=50_000)},
                FirmwareResult.NOT_ENOUGH_STORAGE),
    "ram": (lambda b: b.package, {"board": BOARDS["samd21"]}, FirmwareResult.OUT_OF_RAM),
    "tampered payload": (lambda b: b.package[:-1] + bytes([b.package[-1] ^ 1]), {},
                         FirmwareResult.INTEGRITY_FAILURE),
    "tampered manifest": (tampered_manifest, {}, FirmwareResult.INTEGRITY_FAILURE),
    "wrong key": (lambda b: b.package, {"trust_key": bytes(range(32))},
                  FirmwareResult.INTEGRITY_FAILURE),
    "no trust key": (lambda b: b.package, {"trust_key": None},
                     FirmwareResult.UNSUPPORTED_PACKAGE),
    "unknown backend": (lambda b: b.package,
                        {"board": replace(BOARD, runtimes=("native-armv7em-hardfp",))},
                        FirmwareResult.UNSUPPORTED_PACKAGE),
    "not a package": (lambda b: b"\x01" * 1000, {}, FirmwareResult.UNSUPPORTED_PACKAGE),
    "golden vectors": (wrong_golden, {}, FirmwareResult.UPDATE_FAILED),
    "arena too small": (lambda b: b.signed(replace(b.parts[0], arena_bytes=1_024)), {},
                        FirmwareResult.UPDATE_FAILED),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
async def test_failure_results(
    built: Built, devices: Callable[..., SimulatedDevice], case: str
) -> None:
    make_package, options, expected = CASES[case]
    device = devices(built, **options)
    assert await device.ml.install(make_package(built)) == (expected, "", "")
    changes = record(device)
    if expected is FirmwareResult.NOT_ENOUGH_STORAGE:  # refused as it arrives
        push_package(device, make_package(built))
        assert device.firmware.state is FirmwareState.IDLE
        assert changes == [("/5/0/5", 2)]
    else:
        assert await install(device, make_package(built)) is expected
        assert changes == [("/5/0/3", 2), ("/5/0/3", 3), ("/5/0/3", 0), ("/5/0/5", int(expected))]
    assert (device.tree.get("/5/0/6"), device.tree.get("/5/0/7")) == ("", "")
    assert ml_objects(device) == ["", "", "", ""]
    assert device.ml.model is None


async def test_cancel_in_downloaded(built: Built, devices: Callable[..., SimulatedDevice]) -> None:
    device = devices(built)
    push_package(device, built.package)
    assert device.firmware.state is FirmwareState.DOWNLOADED
    push_package(device, b"")
    assert (device.firmware.state, device.tree.get("/5/0/5")) == (FirmwareState.IDLE, 0)
    assert device.firmware.package == b""
    with pytest.raises(Lwm2mError) as refused:
        device.tree.execute(P("/5/0/2"), "")
    assert refused.value.code is ResponseCode.METHOD_NOT_ALLOWED


async def test_corrupt_fraction_one_always_fails_integrity(
    built: Built, devices: Callable[..., SimulatedDevice]
) -> None:
    device = devices(built, corrupt_fraction=1.0)
    for _ in range(3):
        assert await install(device, built.package) is FirmwareResult.INTEGRITY_FAILURE
    for seed in range(20):  # always a payload byte, never the manifest or the framing
        corrupted = flip_payload_byte(built.package, random.Random(seed))
        assert len(corrupted) == len(built.package) and corrupted != built.package
        with pytest.raises(PayloadDigestMismatch):
            verify_package(corrupted, built.trust_key)


def test_config_checks_delivery_and_fraction() -> None:
    with pytest.raises(ValueError, match="delivery 'usb'"):
        DeviceConfig("d", delivery="usb")
    with pytest.raises(ValueError, match=r"corrupt_fraction 1\.5"):
        DeviceConfig("d", corrupt_fraction=1.5)


async def test_delivery_modes(built: Built, devices: Callable[..., SimulatedDevice]) -> None:
    pull_only = devices(built, delivery="pull")
    assert pull_only.tree.get("/5/0/9") == 0
    with pytest.raises(Lwm2mError) as refused:
        push_package(pull_only, built.package)
    assert refused.value.code is ResponseCode.METHOD_NOT_ALLOWED
    assert pull_only.firmware.state is FirmwareState.IDLE and pull_only.firmware.package == b""
    push_package(pull_only, b"")  # cancelling is always allowed

    push_only = devices(built, delivery="push")
    assert push_only.tree.get("/5/0/9") == 1
    uri = SingleResource(1, T.STRING, "coap://127.0.0.1/fw/1")
    with pytest.raises(Lwm2mError) as refused:
        push_only.tree.write(P("/5/0/1"), uri, replace=True)
    assert refused.value.code is ResponseCode.METHOD_NOT_ALLOWED
    assert (push_only.firmware.state, push_only.tree.get("/5/0/1")) == (FirmwareState.IDLE, "")
    push_package(push_only, built.package)
    assert push_only.firmware.state is FirmwareState.DOWNLOADED
    assert devices(built).tree.get("/5/0/9") == 2


class PackageResource(coap_resource.Resource):
    def __init__(self, package: bytes) -> None:
        super().__init__()
        self.package = package

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(code=Code.CONTENT, payload=self.package)


async def test_over_coap_pull_is_corrupted_and_push_refused(
    built: Built, devices: Callable[..., SimulatedDevice]
) -> None:
    """On the wire: a pulled package (Block2) is corrupted as it arrives; a pull-only device
    refuses a Block1 push at its first block."""
    site = coap_resource.Site()
    site.add_resource(["fw", "kws"], PackageResource(built.package))
    server = await server_context(site, "127.0.0.1", 0)
    device = devices(built, delivery="pull", corrupt_fraction=1.0)
    await device.open()
    try:
        port = server.request_interfaces[0].token_interface.message_interface.transport
        uri = f"coap://127.0.0.1:{port.get_extra_info('socket').getsockname()[1]}/fw/kws"
        device.tree.write(P("/5/0/1"), SingleResource(1, T.STRING, uri), replace=True)
        await wait_for(lambda: device.firmware.state is FirmwareState.DOWNLOADED, timeout=10)
        assert len(device.firmware.package) == len(built.package)
        device.tree.execute(P("/5/0/2"), "")
        await wait_for(lambda: device.firmware.state is FirmwareState.IDLE, timeout=20)
        assert device.tree.get("/5/0/5") == FirmwareResult.INTEGRITY_FAILURE

        put = aiocoap.Message(
            code=Code.PUT, uri=f"coap://127.0.0.1:{device.port}/5/0/0", payload=built.package
        )
        put.opt.content_format = 42
        answer = await server.request(put).response
        assert answer.code == Code.METHOD_NOT_ALLOWED
        blocks = [m.block1 for m in device.messages if m.path == "/5/0/0"]
        assert len(blocks) == 1 and blocks[0] is not None and blocks[0][0] == 0
    finally:
        await device.stop()
        await server.shutdown()
