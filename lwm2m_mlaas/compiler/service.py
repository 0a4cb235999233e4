"""Compiles as a service: one compile per (model versions, class, backend, compiler version),
shared by concurrent callers, run in a process pool (TensorFlow, TFLite-Micro and the C
compilers never touch the event loop), recorded in the database with the content-addressed
package file.

Per-variant measurements (quantize + arena bisection) do not depend on the class; workers keep
them on disk under <data_dir>/compiler/measured/, so a model is measured once for all classes.
Native modules depend on the core only: kept under <data_dir>/compiler/native/.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import ServerConfig
from ..core.artifact import StoredArtifact, StoredCompile
from ..core.cluster import Leases
from ..core.workers import end_with_parent
from ..store import Store
from ..zoo.model import ZooModel
from ..zoo.registry import Zoo
from ..zoo.tasks import TASKS
from ..zoo.variants import VARIANTS
from ._version import COMPILER_VERSION
from .backends.native import source_digest
from .chatter import without_chatter
from .fit import NoFit
from .manifest import BACKEND
from .measure import Measured
from .native import NativeModel, NativeRefusal, lower
from .pipeline import Artifact, compile_measured, measure_variant
from .signing import Signer
from .targets import DeviceClass, load_catalogue

log = logging.getLogger(__name__)


class UnknownTarget(LookupError):
    """No such model, task or device class."""


class CompileFailed(RuntimeError):
    """A compile raised in its worker. The failure is remembered for RETRY_FAILED seconds, so
    that the devices of a class waiting for it do not each start it again."""


RETRY_FAILED = 60.0


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a data dir keeps the zoo, the signing keyring, packages and measurements."""

    data_dir: Path

    @property
    def zoo(self) -> Path:
        return self.data_dir / "zoo"

    @property
    def keys(self) -> Path:
        return self.data_dir / "keys"

    @property
    def packages(self) -> Path:
        """Where the server serves them from."""
        return ServerConfig(data_dir=self.data_dir).packages_dir

    @property
    def measured(self) -> Path:
        return self.data_dir / "compiler" / "measured"

    @property
    def native(self) -> Path:
        return self.data_dir / "compiler" / "native"


def candidates(zoo: Zoo, target: str) -> list[ZooModel]:
    """A task's variants (building them as needed), or the one model of that name."""
    return zoo.models(target) if target in TASKS else [zoo.get(target)]


def measured(model: ZooModel, folder: Path) -> Measured:
    """measure_variant(), cached on disk per (model, version, compiler version)."""
    path = folder / f"{model.name}-{model.version}-{COMPILER_VERSION}.pickle"
    if path.is_file():
        result: Measured = pickle.loads(path.read_bytes())
        return result
    result = measure_variant(model)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{multiprocessing.current_process().pid}")
    temporary.write_bytes(pickle.dumps(result))
    temporary.replace(path)
    return result


def lowered(measured_variant: Measured, core: str, folder: Path) -> NativeModel | NativeRefusal:
    """lower(), cached on disk per (model, version, compiler version, backend sources, core)."""
    model = measured_variant.quantized.model
    path = folder / (f"{model.name}-{model.version}-{COMPILER_VERSION}-{source_digest()}-"
                     f"{core}.pickle")  # fmt: skip
    if path.is_file():
        result: NativeModel | NativeRefusal = pickle.loads(path.read_bytes())
        return result
    result = lower(measured_variant, core)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{multiprocessing.current_process().pid}")
    temporary.write_bytes(pickle.dumps(result))
    temporary.replace(path)
    return result


def quiet_worker() -> None:
    """Less TensorFlow chatter on stderr: C++ info logs (set before TensorFlow is imported) and
    its Python retracing warnings; each job filters what still gets through (chatter.py)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # the TFLite converter prints its settings to the C stdout, which the parent's --json owns
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    end_with_parent()


@without_chatter
def compile_job(data_dir: Path, target: str, class_name: str,
                backend: str = BACKEND) -> Artifact | NoFit:  # fmt: skip
    """The worker side: build or load the candidates, measure them (and lower them, for a
    native backend), fit, verify, package."""
    layout = Layout(data_dir)
    zoo = Zoo(layout.zoo)
    device_class = load_catalogue()[class_name]
    variants = [measured(m, layout.measured) for m in candidates(zoo, target)]
    natives = None
    if backend != BACKEND and backend in device_class.runtimes:
        natives = [lowered(v, device_class.core, layout.native) for v in variants]
    return compile_measured(variants, device_class, Signer(layout.keys), layout.packages,
                            backend, natives)  # fmt: skip


@without_chatter
def build_job(zoo_root: Path, name: str) -> str:
    return Zoo(zoo_root).get(name).version


@without_chatter
def import_job(zoo_root: Path, path: Path, task: str, name: str | None, kind: str | None) -> str:
    from ..zoo import TaskKind

    return Zoo(zoo_root).import_model(
        path, task, name, kind=None if kind is None else TaskKind(kind)).name


CLAIM_POLL = 1.0
"""How often (s) a node waiting for another's compile looks for its outcome."""


class CompileService:
    def __init__(self, store: Store, data_dir: Path, *, workers: int = 1, queue: int = 4,
                 leases: Leases | None = None) -> None:  # fmt: skip
        self.store = store
        self.leases = leases
        """With several nodes: a compile runs on the node holding its lease, once."""
        self.layout = Layout(Path(data_dir))
        self.zoo = Zoo(self.layout.zoo)
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[str, asyncio.Future[StoredCompile]] = {}
        self._queue = asyncio.Semaphore(max(1, queue))
        """Compiles queued or running in the pool at once."""
        self._done: dict[str, StoredCompile] = {}
        """Recorded outcomes by key: most devices' compile is a look-up in memory."""
        self._failed: dict[str, tuple[float, str]] = {}
        """Key -> (monotonic time to try again, why it failed)."""

    def device_class(self, class_name: str) -> DeviceClass:
        found = load_catalogue().get(class_name)
        if found is None:
            raise UnknownTarget(f"no device class {class_name!r}; see `mlaas classes list`")
        return found

    def backend(self, class_name: str, backend: str | None = None) -> str:
        """The runtime a compile for `backend` targets on the class (None: its preferred one,
        'native': its native runtime); UnknownTarget for a name that is no runtime."""
        try:
            return self.device_class(class_name).backend_named(backend)
        except ValueError as exc:
            raise UnknownTarget(str(exc)) from None

    def key(self, target: str, class_name: str, backend: str | None = None) -> str:
        """The identity of a compile, known without training: the variants' cache keys (zoo
        models) or versions (imported ones), the class, the compiler version, and for a native
        backend its runtime and the backend's sources."""
        runtime = self.backend(class_name, backend)
        if target in TASKS:
            inputs = sorted(self.zoo.key(v) for v in VARIANTS.values() if v.task == target)
        elif target in VARIANTS:
            inputs = [self.zoo.key(VARIANTS[target])]
        else:
            try:
                model = self.zoo.get(target)
            except LookupError as exc:
                raise UnknownTarget(str(exc)) from None
            inputs = [f"{model.name}:{model.version}"]
        parts: list[object] = [target, inputs, class_name, COMPILER_VERSION]
        if runtime != BACKEND:  # (TFLite-Micro compiles keep the keys they had before)
            parts += [runtime, source_digest()]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def task_of(self, target: str) -> str:
        if target in TASKS:
            return target
        if target in VARIANTS:
            return VARIANTS[target].task
        return self.zoo.get(target).task

    async def compile(self, target: str, class_name: str,
                      backend: str | None = None) -> StoredCompile:  # fmt: skip
        """The artifact of `target` (a task or a model) for a class and a backend (None: the
        class's preferred one, tflm when it has it; 'native': the class's native runtime; or a
        runtime name), or why none fits."""
        key = self.key(target, class_name, backend)
        runtime = self.backend(class_name, backend)
        device_class = self.device_class(class_name)
        if runtime not in device_class.runtimes:  # known at once: no worker, nothing recorded
            offers = ", ".join(device_class.runtimes)
            return StoredCompile(key, self.task_of(target), class_name, COMPILER_VERSION, None,
                                 f"{class_name} has no {runtime} runtime (offers {offers})",
                                 0.0, runtime)  # fmt: skip
        done = self._done.get(key)
        if done is None:
            async with self.store.transaction() as tx:
                done = await tx.artifacts.compile_result(key)
        if done is not None and (done.artifact is None or Path(done.artifact.path).is_file()):
            self._done[key] = done
            return replace(done, backend=runtime)  # (a package whose file is gone: again)
        self._done.pop(key, None)
        failed = self._failed.get(key)
        if failed is not None and failed[0] > time.monotonic():
            raise CompileFailed(failed[1])
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._compile(key, target, class_name, runtime))
            self._running[key] = running
            running.add_done_callback(lambda _f: self._running.pop(key, None))
        return await asyncio.shield(running)

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")  # no fork of a running event loop
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=quiet_worker
            )
        return self._pool

    async def build(self, name: str) -> ZooModel:
        """Train a zoo variant (cached) in a worker process."""
        if name not in VARIANTS:
            raise UnknownTarget(f"no zoo model {name!r}")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._workers(), build_job, self.layout.zoo, name)
        built = self.zoo.cached(name)
        assert built is not None
        return built

    async def import_model(self, path: Path, task: str, name: str | None,
                           kind: str | None) -> ZooModel:  # fmt: skip
        """Import an int8 .tflite or a .keras file into the zoo, in a worker process."""
        loop = asyncio.get_running_loop()
        imported = await loop.run_in_executor(self._workers(), import_job, self.layout.zoo,
                                              path, task, name, kind)  # fmt: skip
        return self.zoo.get(imported)

    async def _compile(self, key: str, target: str, class_name: str,
                       backend: str) -> StoredCompile:  # fmt: skip
        if self.leases is None:
            return await self._run(key, target, class_name, backend)
        lease = f"compile:{key}"
        while not await self.leases.hold(lease):  # another node compiles it: wait for it
            await asyncio.sleep(CLAIM_POLL)
            if (done := await self._recorded(key)) is not None:
                return replace(done, backend=backend)
        try:
            if (done := await self._recorded(key)) is not None:  # (done just before)
                return replace(done, backend=backend)
            return await self._run(key, target, class_name, backend)
        finally:
            await self.leases.release(lease)

    async def _recorded(self, key: str) -> StoredCompile | None:
        async with self.store.transaction() as tx:
            done = await tx.artifacts.compile_result(key)
        if done is not None:
            self._done[key] = done
        return done

    async def _run(self, key: str, target: str, class_name: str,
                   backend: str) -> StoredCompile:  # fmt: skip
        loop = asyncio.get_running_loop()
        async with self._queue:
            started = time.perf_counter()
            try:
                result = await loop.run_in_executor(
                    self._workers(), compile_job, self.layout.data_dir, target, class_name,
                    backend)  # fmt: skip
            except Exception as exc:
                why = f"compiling {target} for {class_name} ({backend}) failed: {exc}"
                log.error("%s", why)
                self._failed[key] = (time.monotonic() + RETRY_FAILED, why)
                raise CompileFailed(why) from exc
        seconds = time.perf_counter() - started
        task = self.task_of(target)
        if isinstance(result, NoFit):
            outcome = StoredCompile(key, task, class_name, COMPILER_VERSION, None, result.reason,
                                    seconds, backend)  # fmt: skip
        else:
            outcome = StoredCompile(key, task, class_name, COMPILER_VERSION,
                                    stored_artifact(result), None, seconds, backend)  # fmt: skip
        async with self.store.transaction() as tx:
            await tx.artifacts.record_compile(outcome)
        self._done[key] = outcome
        found = outcome.artifact.id[:12] if outcome.artifact else outcome.reason
        log.info("compiled %s for %s (%s) in %.1f s: %s", target, class_name, backend, seconds,
                 found)  # fmt: skip
        return outcome

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


def stored_artifact(artifact: Artifact) -> StoredArtifact:
    quality = {
        "int8": artifact.quality,
        "float": artifact.float_quality,
        "delta": artifact.quality_delta,
        "max_step_diff": artifact.max_step_diff,
        "top1_agreement": artifact.top1_agreement,
        "ram_needed": artifact.ram_needed,
        "variant": artifact.variant,
    }
    return StoredArtifact(
        id=artifact.id, model=artifact.model, model_version=artifact.model_version,
        task=artifact.task, device_class=artifact.device_class, backend=artifact.backend,
        compiler_version=artifact.compiler_version, arena_bytes=artifact.arena_bytes,
        model_bytes=artifact.model_bytes, package_bytes=artifact.package_bytes, quality=quality,
        path=str(artifact.package_path), created=time.time(),
    )  # fmt: skip
