"""The simulated device's ML slot: it installs a verified package (the Firmware Update
installer) and then keeps inferring on generated sensor data, reporting in the ML Capability
(32100) and ML Inference (32101) objects. It holds the package signing keys the device trusts
(listed in /32100/0/9) and learns a new one from a trust statement (/32100/0/10) signed by a key
it already trusts.

TFLite-Micro never runs on the event loop: MlRuntime hands it to a small process pool shared by
every simulated device of the process. Workers keep loaded interpreters by package id, so a model
crosses to a worker once (on that worker's first miss), not with every inference."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..compiler.manifest import BACKEND, Manifest, TensorSpec
from ..compiler.package import PackageError, verify_package, verify_trust_statement
from ..compiler.signing import key_id, load_public_key
from ..compiler.targets import ARENA_HEADROOM, INTERPRETER_BYTES
from ..core.errors import Lwm2mError, ResponseCode
from ..core.firmware_update import FirmwareResult
from ..core.paths import Lwm2mPath
from ..core.workers import end_with_parent
from ..zoo.model import TaskKind
from ..zoo.tasks import FAULTS, GESTURES, Gesture, Vibration

if TYPE_CHECKING:
    from .device import SimulatedDevice

log = logging.getLogger(__name__)

ML_CAPABILITY = 32100
"""The ML Capability object (objects/32100.xml)."""
ML_INFERENCE = 32101
"""The ML Inference object (objects/32101.xml)."""
TRUSTED_KEYS, TRUST_UPDATE = 9, 10
"""ML Capability resources: the key ids the device trusts; a trust statement to add one."""
WORKERS = 2
CACHED_MODELS = 8
"""Interpreters a worker keeps (least recently used ones are dropped)."""
ANOMALY_RATE = 0.1
"""Share of generated vibration spectra that come from a faulty machine."""

Array = npt.NDArray[Any]
T = TypeVar("T")


def ram_needed(arena_bytes: int) -> int:
    """The ML RAM a model needs, as the compiler's DeviceClass.ram_needed() counts it."""
    return int(arena_bytes * ARENA_HEADROOM) + INTERPRETER_BYTES


# -- worker side: one TFLite-Micro interpreter per package id ------------------------------------

_interpreters: OrderedDict[str, Any] = OrderedDict()


def _load(package_id: str, payload: bytes, arena_bytes: int) -> Any:
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(payload, arena_size=arena_bytes)
    _interpreters[package_id] = interpreter
    while len(_interpreters) > CACHED_MODELS:
        _interpreters.popitem(last=False)
    return interpreter


def _check(package_id: str, payload: bytes, manifest: Manifest) -> bool:
    from ..compiler.verify import golden_matches

    try:
        exact, total = golden_matches(manifest, payload)
        if exact != total:
            return False
        _load(package_id, payload, manifest.arena_bytes)
    except Exception as exc:  # whatever the package makes TFLite-Micro raise: it does not run
        log.info("package %s does not run: %s", package_id[:12], exc)
        return False
    return True


def _infer(
    package_id: str, model: tuple[bytes, int] | None, data: bytes
) -> tuple[bytes, int] | None:
    """(output tensor, invoke time in microseconds); None if this worker lacks the model and
    `model` (payload, arena bytes) was not sent."""
    interpreter = _interpreters.get(package_id)
    if interpreter is None:
        if model is None:
            return None
        interpreter = _load(package_id, *model)
    _interpreters.move_to_end(package_id)
    shape = interpreter.get_input_details(0)["shape"]
    interpreter.set_input(np.frombuffer(data, np.int8).reshape(shape), 0)
    start = time.perf_counter_ns()
    interpreter.invoke()
    elapsed = time.perf_counter_ns() - start
    output = np.asarray(interpreter.get_output(0), np.int8)
    return output.tobytes(), elapsed // 1000


# -- event loop side -----------------------------------------------------------------------------


class MlRuntime:
    """TFLite-Micro in a spawned process pool; `MlRuntime.shared()` is the process's one pool
    for all simulated devices. A crashed worker (a far too small arena segfaults) breaks the
    pool; the call fails and the next one starts a new pool. A check's outcome is kept per
    package id (the SHA-256 of manifest and payload), so a fleet checks a package once."""

    _shared: MlRuntime | None = None

    def __init__(self, workers: int = WORKERS) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._checked: dict[str, bool] = {}
        self._checking: dict[str, asyncio.Task[bool]] = {}

    @classmethod
    def shared(cls) -> MlRuntime:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=end_with_parent)
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False)
            raise

    async def check(self, package_id: str, payload: bytes, manifest: Manifest) -> bool:
        """Whether a fresh interpreter with the manifest's arena reproduces every golden vector
        bit for bit (compiler.verify.golden_matches); the checking worker keeps the model.
        Concurrent checks of one package share one run."""
        if package_id in self._checked:
            return self._checked[package_id]
        loop = asyncio.get_running_loop()
        task = self._checking.get(package_id)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._check(package_id, payload, manifest))
            self._checking[package_id] = task

            def done(finished: asyncio.Task[bool]) -> None:
                if self._checking.get(package_id) is finished:
                    del self._checking[package_id]

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _check(self, package_id: str, payload: bytes, manifest: Manifest) -> bool:
        try:
            passed = await self._call(_check, package_id, payload, manifest)
        except BrokenProcessPool:
            log.warning("TFLite-Micro worker died checking package %s", package_id[:12])
            return False
        self._checked[package_id] = passed
        return passed

    async def infer(
        self, package_id: str, payload: bytes, arena_bytes: int, data: bytes
    ) -> tuple[bytes, int]:
        """(output tensor bytes, latency in microseconds) of one int8 input. The payload is only
        sent to a worker that does not hold the model yet."""
        answer = await self._call(_infer, package_id, None, data)
        if answer is None:
            answer = await self._call(_infer, package_id, (payload, arena_bytes), data)
        assert answer is not None
        return answer

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- sensor data and what the model's output means -----------------------------------------------


@cache
def _digits() -> Array:
    from sklearn.datasets import load_digits

    images: Array = load_digits().images / 16.0
    return images


def sensor_input(manifest: Manifest, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """One float input shaped like manifest.input, drawn like the task's training data (gesture
    windows, vibration spectra, 8x8 digits, sine x); other tasks get noise around the input's
    zero point."""
    spec = manifest.input
    x: Array | None = None
    match manifest.task:
        case "gesture":
            x = Gesture()._window(rng, str(rng.choice(GESTURES)))
        case "anomaly":
            fault = str(rng.choice(FAULTS)) if rng.random() < ANOMALY_RATE else None
            x = Vibration()._spectrum(rng, fault)
        case "digits":
            images = _digits()
            x = images[rng.integers(len(images))]
        case "sine":
            x = rng.uniform(0.0, 2 * np.pi, 1)
    if x is None or x.size != spec.size:
        x = rng.normal(0.0, 32.0, spec.size) * spec.scale
    return np.asarray(x, np.float32).reshape(spec.shape)


def quantize(x: Array, spec: TensorSpec) -> bytes:
    q = np.round(np.asarray(x, np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, -128, 127).astype(np.int8).tobytes()


def dequantize(data: bytes, spec: TensorSpec) -> npt.NDArray[np.float64]:
    return (np.frombuffer(data, np.int8).astype(np.float64) - spec.zero_point) * spec.scale


def interpret(manifest: Manifest, x: Array, output: bytes) -> tuple[str, float]:
    """(last output, last score): the top class's label and probability (classifiers), the
    verdict and reconstruction error (anomaly; the error itself without a threshold), or the
    value (regression)."""
    y = dequantize(output, manifest.output)
    if manifest.kind == TaskKind.CLASSIFICATION:
        top = int(np.argmax(y))
        label = manifest.labels[top] if top < len(manifest.labels) else str(top)
        return label, float(np.clip(y[top], 0.0, 1.0))
    if manifest.kind == TaskKind.ANOMALY:
        error = float(np.mean((np.asarray(x, np.float64).ravel() - y) ** 2))
        if manifest.threshold is None:
            return f"{error:.4g}", error
        return ("anomalous" if error > manifest.threshold else "normal"), error
    value = float(y[0])
    return f"{value:.4g}", value


# -- the device's ML slot ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledModel:
    id: str
    """Package id: SHA-256 of the package file, hex (what /5/0/7 reports)."""
    manifest: Manifest
    payload: bytes = field(repr=False)


class MlSlot:
    """Installs packages for FirmwareUpdate (`install` is its Installer) and runs the installed
    model every `inference_interval` seconds while /32101/0/6 Enabled is true."""

    def __init__(self, device: SimulatedDevice, runtime: MlRuntime | None = None) -> None:
        self.device = device
        self.runtime = runtime or MlRuntime.shared()
        config = device.config
        self.trusted: dict[bytes, Ed25519PublicKey] = {}
        """Package signing keys by key id."""
        if config.trust_key is not None:
            key = load_public_key(config.trust_key)
            self.trusted[key_id(key)] = key
        self._report_trusted()
        if config.trust_updates:
            device.tree.set(f"/{ML_CAPABILITY}/0/{TRUST_UPDATE}", b"")
        device.tree.on_write(ML_CAPABILITY, TRUST_UPDATE, self._trust_update)
        self.model: InstalledModel | None = None
        self.rng = np.random.default_rng([config.seed, zlib.crc32(config.endpoint.encode())])
        self._task: asyncio.Task[None] | None = None
        device.tree.on_execute(f"/{ML_INFERENCE}/0/7", self._reset_counters)

    async def install(self, package: bytes) -> tuple[FirmwareResult, str, str]:
        endpoint, board = self.device.config.endpoint, self.device.config.board

        def refuse(result: FirmwareResult, why: str) -> tuple[FirmwareResult, str, str]:
            log.info("%s: package refused (%d): %s", endpoint, result, why)
            return result, "", ""

        if not self.trusted:
            return refuse(FirmwareResult.UNSUPPORTED_PACKAGE, "no trust key to verify it with")
        try:
            manifest, payload = verify_package(package, self.trusted)
        except PackageError as exc:
            return refuse(FirmwareResult(exc.result), str(exc))
        if manifest.backend not in board.runtimes or manifest.backend != BACKEND:
            # (a simulated device runs TFLite-Micro only, whatever its profile claims)
            return refuse(FirmwareResult.UNSUPPORTED_PACKAGE, f"no {manifest.backend} runtime")
        if manifest.payload_size > board.ml_flash:
            return refuse(FirmwareResult.NOT_ENOUGH_STORAGE, f"{manifest.payload_size} B model")
        if ram_needed(manifest.arena_bytes) > board.ml_ram:
            return refuse(FirmwareResult.OUT_OF_RAM, f"{manifest.arena_bytes} B arena")
        package_id = hashlib.sha256(package).hexdigest()
        if not await self.runtime.check(package_id, payload, manifest):
            return refuse(FirmwareResult.UPDATE_FAILED, "golden vectors not reproduced")
        self._start(InstalledModel(package_id, manifest, payload))
        log.info("%s: running %s %s", endpoint, manifest.model, manifest.version)
        return FirmwareResult.SUCCESS, manifest.model, package_id

    def _report_trusted(self) -> None:
        if self.device.config.reports_trusted_keys and self.trusted:
            self.device.tree.set(f"/{ML_CAPABILITY}/0/{TRUSTED_KEYS}",
                                 dict(enumerate(k.hex() for k in self.trusted)))  # fmt: skip

    def _trust_update(self, path: Lwm2mPath, value: Any) -> None:
        """A server wrote /32100/0/10: trust the statement's key if a trusted key signed it."""
        o, i, r = path.ids
        if not self.device.config.trust_updates:  # firmware without the resource
            del self.device.tree.data[o][i][r]
            raise Lwm2mError(f"{path} not found", code=ResponseCode.NOT_FOUND)
        self.device.tree.data[o][i][r] = b""  # keep no copy
        endpoint = self.device.config.endpoint
        try:
            key = verify_trust_statement(bytes(value), self.trusted)
        except PackageError as exc:
            log.info("%s: trust statement refused: %s", endpoint, exc)
            raise Lwm2mError(f"trust statement refused: {exc}",
                             code=ResponseCode.BAD_REQUEST) from None  # fmt: skip
        kid = key_id(key)
        if kid not in self.trusted:
            self.trusted[kid] = key
            log.info("%s: now trusts signing key %s", endpoint, kid.hex())
            self._report_trusted()

    def _start(self, model: InstalledModel) -> None:
        self.stop()
        self.model = model
        tree, m = self.device.tree, model.manifest
        tree.set(f"/{ML_CAPABILITY}/0/6", m.model)
        tree.set(f"/{ML_CAPABILITY}/0/7", m.version)
        tree.set(f"/{ML_INFERENCE}/0/0", m.model)
        tree.set(f"/{ML_INFERENCE}/0/1", m.version)
        if self.device.config.inference_interval > 0:
            name = f"inference {self.device.config.endpoint}"
            self._task = asyncio.get_running_loop().create_task(self._run(model), name=name)

    def stop(self) -> None:
        """Stop inferring (the installed model stays)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _reset_counters(self, _arguments: str) -> None:
        tree = self.device.tree
        tree.set(f"/{ML_INFERENCE}/0/2", 0)
        tree.set(f"/{ML_INFERENCE}/0/3", "")
        tree.set(f"/{ML_INFERENCE}/0/4", 0.0)
        tree.set(f"/{ML_INFERENCE}/0/5", 0)

    def _enabled(self) -> bool:
        return bool(self.device.tree.get(f"/{ML_INFERENCE}/0/6"))

    async def _run(self, model: InstalledModel) -> None:
        tree, m = self.device.tree, model.manifest
        while True:
            await asyncio.sleep(self.device.config.inference_interval)
            if not self._enabled():
                continue
            x = sensor_input(m, self.rng)
            try:
                output, latency = await self.runtime.infer(
                    model.id, model.payload, m.arena_bytes, quantize(x, m.input)
                )
            except (BrokenProcessPool, RuntimeError, ValueError) as exc:
                log.warning("%s: inference failed: %s", self.device.config.endpoint, exc)
                continue
            if self.model is not model:
                return
            if not self._enabled():  # disabled while it ran: not reported
                continue
            label, score = interpret(m, x, output)
            count = tree.get(f"/{ML_INFERENCE}/0/2")
            assert isinstance(count, int)
            tree.set(f"/{ML_INFERENCE}/0/2", count + 1)
            tree.set(f"/{ML_INFERENCE}/0/3", label)
            tree.set(f"/{ML_INFERENCE}/0/4", score)
            tree.set(f"/{ML_INFERENCE}/0/5", latency)
