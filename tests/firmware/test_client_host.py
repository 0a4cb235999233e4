"""The firmware stub's portable LwM2M client (firmware_stubs/src/), built for the host
(firmware_stubs/platform/host/) and run as a process against the real server: registration,
reads and writes, observation, push and pull package delivery with the device's own package
checks, de-registration, the CoAP transport's retransmission and duplicate handling, and
hostile datagrams. The host platform maps the emulated network's server address 192.0.2.2 to
127.0.0.1, as QEMU's user-mode network does."""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiocoap
import cbor2
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON, NON, RST

from lwm2m_mlaas.compiler.manifest import GoldenVector, Manifest, TensorSpec
from lwm2m_mlaas.compiler.package import sign1
from lwm2m_mlaas.compiler.signing import Signer
from lwm2m_mlaas.core.content_format import ContentFormat
from lwm2m_mlaas.core.errors import ResponseCode
from lwm2m_mlaas.core.nodes import Lwm2mObject, MultiResource, Node, ObjectInstance, SingleResource
from lwm2m_mlaas.core.nodes import ResourceType as T
from lwm2m_mlaas.core.paths import Lwm2mPath
from lwm2m_mlaas.server import Event, EventKind, Lwm2mServer
from lwm2m_mlaas.sim.firmware import flip_payload_byte
from tests.helpers import wait_for
from tests.helpers.net import raw_message
from tests.helpers.packages import raw_public_key
from tests.helpers.service import answered, node_as, notifications

STUBS = Path(__file__).resolve().parents[2] / "firmware_stubs"
SLOT = 1024 * 1024
SLOT_ALIGN = 8  # slot bytes the stub keeps to align a module
OBJECTS = ["/1/0", "/3/0", "/5/0", "/32100/0", "/32101/0"]
CORES = {
    "mps2-an385": ("cortex-m3", "native-armv7m"),
    "mps2-an386": ("cortex-m4f", "native-armv7em-hardfp"),
    "mps2-an500": ("cortex-m7", "native-armv7em-hardfp"),
    "mps2-an505": ("cortex-m33", "native-armv8m-main-hardfp"),
}


# ---- building and running the stub ------------------------------------------------------------


@pytest.fixture(scope="session")
def stub_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host build, compiled once per session (per xdist worker), warnings as errors, with
    the address and undefined-behaviour sanitizers: hostile input must not even misbehave."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the firmware stub for the host"
    out = tmp_path_factory.mktemp("stub") / "stub"
    sources = sorted((STUBS / "src").glob("*.c")) + sorted((STUBS / "platform/host").glob("*.c"))
    flags = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined",
             "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror"]  # fmt: skip
    native_abi = STUBS.parent / "lwm2m_mlaas/compiler/backends/native/runtime"
    built = subprocess.run([gcc, *flags, f"-I{STUBS / 'include'}", f"-I{native_abi}",
                            *map(str, sources),
                            "-o", str(out)], capture_output=True, text=True)  # fmt: skip
    assert built.returncode == 0, built.stderr
    return out


@dataclass
class Stub:
    proc: subprocess.Popen[str]
    endpoint: str
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    async def wait(self, line: str, timeout: float = 5.0) -> None:
        """Until the stub has logged `line` (an exact line)."""
        try:
            await wait_for(lambda: line in self.lines, timeout)
        except TimeoutError:
            raise AssertionError(f"no {line!r} in the stub's log: {self.lines}") from None

    @property
    def port(self) -> int:
        for line in self.lines:
            if line.startswith("udp 127.0.0.1:"):
                return int(line.rpartition(":")[2])
        raise AssertionError(f"the stub did not log its port: {self.lines}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


Launch = Callable[..., Awaitable[Stub]]


@pytest.fixture
async def launch(stub_binary: Path) -> AsyncIterator[Launch]:
    """`await launch(port, "ep=..", ...)`: a stub whose server is 192.0.2.2:port; every stub
    is killed when the test ends."""
    started: list[Stub] = []

    async def start(server_port: int, *args: str, endpoint: str = "stub-1",
                    lifetime: int = 30) -> Stub:  # fmt: skip
        argv = [str(stub_binary), f"ep={endpoint}", f"server=192.0.2.2:{server_port}",
                f"lifetime={lifetime}", *args]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        stub = Stub(proc, endpoint)
        started.append(stub)
        stub.reader = threading.Thread(target=stub._read, daemon=True)
        stub.reader.start()
        await wait_for(lambda: any(line.startswith("udp ") for line in stub.lines))
        return stub

    yield start
    for stub in started:
        if stub.alive:
            stub.proc.kill()
        stub.proc.wait(5)
        assert stub.reader is not None and stub.proc.stdout is not None
        stub.reader.join(5)
        stub.proc.stdout.close()


@pytest.fixture
async def stub(server: Lwm2mServer, launch: Launch) -> Launch:
    """`await stub("board=mps2-an385", ...)`: a stub registered with the test's server."""

    async def start(*args: str, endpoint: str = "stub-1", **options: Any) -> Stub:
        running = await launch(server.port, *args, endpoint=endpoint, **options)
        await wait_for(lambda: server.registrations.by_endpoint(endpoint) is not None)
        return running

    return start


# ---- packages ---------------------------------------------------------------------------------


def trust(signer: Signer) -> str:
    return f"trust={raw_public_key(signer).hex()}"


def make_package(signer: Signer, backend: str = "native-armv7m", size: int = 3000,
                 arena: int = 4096) -> bytes:  # fmt: skip
    """A signed package as the service makes them (compiler/package.py), payload random."""
    payload = random.Random(size).randbytes(size)
    spec = TensorSpec((1, 1), "int8", 0.05, -3)
    manifest = Manifest(
        model="sine-native", version="1.2.0", task="sine", kind="regression", variant="int8",
        backend=backend, device_class="mps2-an385", payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).digest(), arena_bytes=arena, input=spec,
        output=spec, golden=(GoldenVector(b"\x01", b"\x02"),), compiler="test",
    )  # fmt: skip
    return cbor2.dumps(cbor2.CBORTag(55799, [sign1(manifest.to_cbor(), signer), payload]))


async def push(server: Lwm2mServer, ep: str, package: bytes) -> ResponseCode:
    package_resource = SingleResource(0, T.OPAQUE, package)
    answer = answered(await server.write(ep, "/5/0/0", package_resource, timeout=10))
    return answer.code


async def pull(server: Lwm2mServer, ep: str, package: bytes, name: str = "p.pkg") -> None:
    server.packages.put(name, package)
    uri = f"coap://192.0.2.2:{server.port}/fw/{name}"
    answer = answered(await server.write(ep, "/5/0/1", SingleResource(1, T.STRING, uri)))
    assert answer.code is ResponseCode.CHANGED


async def value(server: Lwm2mServer, ep: str, path: str) -> Any:
    answer = answered(await server.read(ep, path))
    assert answer.code is ResponseCode.CONTENT, answer
    return getattr(answer.node, "value", None)


# ---- registration and reads -------------------------------------------------------------------


async def test_registers_with_its_endpoint_and_objects(server: Lwm2mServer, stub: Launch) -> None:
    running = await stub("board=mps2-an385", endpoint="stub-reg", lifetime=45)
    registration = server.registrations.by_endpoint("stub-reg")
    assert registration is not None
    assert registration.lifetime == 45 and registration.lwm2m_version == "1.1"
    assert registration.binding == "U" and not registration.queue_mode
    assert registration.root_path == "/"
    assert [link.target for link in registration.object_links][1:] == OBJECTS
    assert registration.available_instances == {1: (0,), 3: (0,), 5: (0,), 32100: (0,),
                                                 32101: (0,)}  # fmt: skip
    await running.wait(f"registered /rd/{registration.id}")


async def test_sends_its_inference_results_in_senml_cbor(server: Lwm2mServer,
                                                         stub: Launch) -> None:  # fmt: skip
    """send=1: once registered, the stub POSTs /32101/0 to /dp (Send) in SenML CBOR; the
    server decodes every value the objects hold and keeps them."""
    await stub("board=mps2-an385", "send=1", endpoint="stub-send")

    async def sent() -> dict[str, Node]:
        return {str(path): kept.node for path, kept in (await server.sent.of("stub-send")).items()}

    async def arrived() -> bool:
        return bool(await sent())

    await wait_for(arrived, 10)
    values = await sent()
    assert set(values) == {f"/32101/0/{r}" for r in (0, 1, 2, 3, 4, 5, 6, 8, 9)}
    assert values["/32101/0/2"] == SingleResource(2, T.INTEGER, 0)
    assert values["/32101/0/4"] == SingleResource(4, T.FLOAT, 0.0)
    assert values["/32101/0/6"] == SingleResource(6, T.BOOLEAN, True)
    assert values["/32101/0/0"] == SingleResource(0, T.STRING, "")


async def test_read_composite_in_senml_cbor(server: Lwm2mServer, stub: Launch) -> None:
    """FETCH / with SenML CBOR paths: the values under each path the stub has (an object, an
    instance, a resource), the absent and the executable left out; other formats refused."""
    await stub("board=mps2-an385", endpoint="stub-composite")
    answer = answered(await server.read_composite(
        "stub-composite", ["/3/0", "/32101/0/2", "/32100", "/99/0", "/1/0/4"]))  # fmt: skip
    assert answer.code is ResponseCode.CONTENT and answer.nodes is not None
    assert set(map(str, answer.nodes)) == {"/3/0", "/32101/0/2", "/32100"}
    device = answer.nodes[Lwm2mPath.parse("/3/0")]
    assert isinstance(device, ObjectInstance)
    assert device.resources[17] == SingleResource(17, T.STRING, "mps2-an385")
    assert answer.nodes[Lwm2mPath.parse("/32101/0/2")] == SingleResource(2, T.INTEGER, 0)
    capability = answer.nodes[Lwm2mPath.parse("/32100")]
    assert isinstance(capability, Lwm2mObject)
    assert capability.instances[0].resources[0] == SingleResource(0, T.STRING, "cortex-m3")
    refused = answered(await server.read_composite("stub-composite", ["/3/0"],
                                                   ContentFormat.SENML_JSON))  # fmt: skip
    assert refused.code is ResponseCode.UNSUPPORTED_CONTENT_FORMAT


@pytest.mark.parametrize("board", sorted(CORES))
async def test_device_and_ml_capability_read_as_the_board(
    server: Lwm2mServer, stub: Launch, signer: Signer, board: str
) -> None:
    await stub(f"board={board}", "task=gesture", trust(signer))
    core, runtime = CORES[board]
    device = answered(await server.read("stub-1", "/3/0"))
    assert device.code is ResponseCode.CONTENT and device.content_format == 11542
    resources = node_as(ObjectInstance, device).resources
    values = {i: getattr(r, "value", None) for i, r in resources.items()}
    assert values[0] == "lwm2m-mlaas" and values[1] == board and values[2] == "stub-1"
    assert values[17] == board and values[18] == core and values[16] == "U"
    assert isinstance(resources[11], MultiResource) and resources[11].instances == {0: 0}
    ml = node_as(ObjectInstance, answered(await server.read("stub-1", "/32100/0"))).resources
    ml_values = {i: getattr(r, "value", None) for i, r in ml.items()}
    assert ml_values[0] == core and ml_values[1] == 25
    assert ml_values[2] == 256 * 1024 and ml_values[3] == 1024 * 1024
    runtimes, keys = ml[4], ml[9]
    assert isinstance(runtimes, MultiResource) and isinstance(keys, MultiResource)
    assert dict(runtimes.instances) == {0: runtime}  # only the native runtime: no TFLite-Micro
    assert ml_values[5] == "gesture" and ml_values[8] == board
    assert dict(keys.instances) == {0: signer.key_id.hex()}
    assert await value(server, "stub-1", "/32100/0/1") == 25
    assert await value(server, "stub-1", "/5/0/9") == 2


async def test_formats_and_errors(server: Lwm2mServer, stub: Launch) -> None:
    await stub()
    text = answered(await server.read("stub-1", "/3/0/0", content_format=ContentFormat.TEXT))
    assert text.payload == b"lwm2m-mlaas" and text.content_format == 0
    tlv = answered(await server.read("stub-1", "/3/0/0", content_format=ContentFormat.TLV))
    assert node_as(SingleResource, tlv).value == "lwm2m-mlaas"
    unacceptable = answered(await server.read("stub-1", "/3/0/0",
                                              content_format=ContentFormat.SENML_JSON))  # fmt: skip
    assert unacceptable.code.value == 134  # 4.06
    whole_as_text = answered(await server.read("stub-1", "/3/0", content_format=ContentFormat.TEXT))
    assert whole_as_text.code.value == 134
    assert answered(await server.read("stub-1", "/5/0/0")).code is ResponseCode.METHOD_NOT_ALLOWED
    assert answered(await server.read("stub-1", "/9/0")).code is ResponseCode.NOT_FOUND
    assert answered(await server.read("stub-1", "/3/1")).code is ResponseCode.NOT_FOUND
    assert answered(await server.read("stub-1", "/3/0/99")).code is ResponseCode.NOT_FOUND
    assert await value(server, "stub-1", "/32101/0/4") == 0.0
    whole = node_as(Lwm2mObject, answered(await server.read("stub-1", "/3")))
    assert getattr(whole.instances[0].resources[2], "value", None) == "stub-1"
    links = answered(await server.discover("stub-1", "/5/0")).links
    assert links is not None and "/5/0/3" in [link.target for link in links]
    assert answered(await server.delete("stub-1", "/3/0")).code is ResponseCode.METHOD_NOT_ALLOWED


async def test_write_and_read_back(server: Lwm2mServer, stub: Launch) -> None:
    running = await stub("task=sine")
    task = SingleResource(5, T.STRING, "keyword-spotting")
    assert answered(await server.write("stub-1", "/32100/0/5", task)).code is ResponseCode.CHANGED
    assert await value(server, "stub-1", "/32100/0/5") == "keyword-spotting"
    await running.wait("task keyword-spotting")
    read_only = SingleResource(0, T.STRING, "x")
    assert answered(await server.write("stub-1", "/3/0/0", read_only)).code.value == 133  # 4.05
    enabled = SingleResource(6, T.BOOLEAN, False)
    answer = answered(await server.write("stub-1", "/32101/0/6", enabled))
    assert answer.code is ResponseCode.CHANGED
    assert await value(server, "stub-1", "/32101/0/6") is False
    # a lifetime write makes the client send an Update with the new lifetime
    lifetime = SingleResource(1, T.INTEGER, 77)
    assert answered(await server.write("stub-1", "/1/0/1", lifetime)).code is ResponseCode.CHANGED
    await wait_for(lambda: getattr(server.registrations.by_endpoint("stub-1"), "lifetime", 0) == 77)
    assert answered(await server.execute("stub-1", "/32101/0/7")).code is ResponseCode.CHANGED
    answer = answered(await server.execute("stub-1", "/3/0/0"))
    assert answer.code is ResponseCode.METHOD_NOT_ALLOWED


# ---- observation ------------------------------------------------------------------------------


async def test_observe_firmware_state_and_result(server: Lwm2mServer, stub: Launch) -> None:
    await stub()
    events: list[Event] = []
    with server.events.listening(events.append):
        assert answered(await server.observe("stub-1", "/5/0/3")).code is ResponseCode.CONTENT
        assert answered(await server.observe("stub-1", "/5/0/5")).code is ResponseCode.CONTENT
        for n, uri in enumerate(["coaps://192.0.2.2/fw/x", "coap://10.0.0.1/fw/x", ""]):
            uri_resource = SingleResource(1, T.STRING, uri)
            answer = answered(await server.write("stub-1", "/5/0/1", uri_resource))
            assert answer.code is ResponseCode.CHANGED
            await wait_for(lambda n=n: len(notifications(events, "/5/0/5")) == n + 1)
    assert notifications(events, "/5/0/5") == [9, 7, 0]
    assert notifications(events, "/5/0/3") == []  # the state stayed idle
    registration = await server.registration("stub-1")
    assert len(server.observations.active(registration.id)) == 2


async def test_pmax_and_cancel(server: Lwm2mServer, stub: Launch) -> None:
    await stub()
    events: list[Event] = []
    with server.events.listening(events.append):
        pmax = answered(await server.write_attributes("stub-1", "/32101/0/2", {"pmax": "1"}))
        assert pmax.success
        await server.observe("stub-1", "/32101/0/2")
        await wait_for(lambda: len(notifications(events, "/32101/0/2")) >= 2, timeout=5)
        cancelled = answered(await server.cancel_observation("stub-1", "/32101/0/2", active=True))
        assert cancelled.code is ResponseCode.CONTENT
        count = len(notifications(events, "/32101/0/2"))
        await asyncio.sleep(1.5)
    assert len(notifications(events, "/32101/0/2")) == count
    assert set(notifications(events, "/32101/0/2")) == {0}


async def test_passive_cancel_drops_the_observation_on_reset(
    server: Lwm2mServer, stub: Launch
) -> None:
    running = await stub()
    assert answered(await server.write_attributes("stub-1", "/32101/0/2", {"pmax": "1"})).success
    await server.observe("stub-1", "/32101/0/2")
    await running.wait("observe /32101/0/2")
    # forgets the token
    cancelled = answered(await server.cancel_observation("stub-1", "/32101/0/2"))
    assert cancelled.success
    # aiocoap ignores a NON notification it does not know, and resets a CON one: the 4th
    await running.wait("observe dropped /32101/0/2", timeout=7)


# ---- package delivery -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["push", "pull"])
async def test_a_native_package_downloads_and_install_refuses_a_payload_that_is_no_module(
    server: Lwm2mServer, stub: Launch, signer: Signer, method: str
) -> None:
    running = await stub("board=mps2-an385", trust(signer))
    package = make_package(signer, size=5000)
    events: list[Event] = []
    with server.events.listening(events.append):
        await server.observe("stub-1", "/5/0/3")
        if method == "push":
            assert await push(server, "stub-1", package) is ResponseCode.CHANGED
        else:
            await pull(server, "stub-1", package)
        await running.wait("fw state 2")
        assert await value(server, "stub-1", "/5/0/3") == 2
        assert answered(await server.execute("stub-1", "/5/0/2")).code is ResponseCode.CHANGED
        await running.wait("fw result 6")  # random bytes, not a native module: unsupported
        await wait_for(lambda: notifications(events, "/5/0/3")[-1:] == [0])
    assert f"fw received {len(package)}" in running.lines
    assert "ml: not a native module of this ABI" in running.lines
    assert notifications(events, "/5/0/3") == [1, 2, 3, 0]
    assert await value(server, "stub-1", "/5/0/5") == 6
    executed = answered(await server.execute("stub-1", "/5/0/2"))
    assert executed.code is ResponseCode.METHOD_NOT_ALLOWED


@pytest.mark.parametrize("method", ["push", "pull"])
@pytest.mark.parametrize(("fault", "result"), [("tflm", 6), ("corrupt", 5), ("other-key", 5),
                                               ("not-a-package", 6)])  # fmt: skip
async def test_refused_packages(server: Lwm2mServer, stub: Launch, signer: Signer,
                                tmp_path: Path, method: str, fault: str,
                                result: int) -> None:  # fmt: skip
    running = await stub("board=mps2-an505", trust(signer))
    backend = "tflm" if fault == "tflm" else "native-armv8m-main-hardfp"
    package = make_package(Signer(tmp_path / "other") if fault == "other-key" else signer,
                           backend=backend)  # fmt: skip
    if fault == "corrupt":
        package = flip_payload_byte(package, random.Random(3))
    elif fault == "not-a-package":
        package = bytes(range(256)) * 3
    if method == "push":
        assert await push(server, "stub-1", package) is ResponseCode.CHANGED
    else:
        await pull(server, "stub-1", package)
    await running.wait(f"fw result {result}")
    assert await value(server, "stub-1", "/5/0/3") == 0
    assert await value(server, "stub-1", "/5/0/5") == result
    executed = answered(await server.execute("stub-1", "/5/0/2"))
    assert executed.code is ResponseCode.METHOD_NOT_ALLOWED


async def test_push_larger_than_the_slot(server: Lwm2mServer, stub: Launch, signer: Signer) -> None:
    running = await stub(trust(signer))
    package = make_package(signer, size=SLOT + 10)
    answer = answered(await server.write("stub-1", "/5/0/0", SingleResource(0, T.OPAQUE, package)))
    assert answer.code is ResponseCode.REQUEST_ENTITY_TOO_LARGE  # 4.13 at the first block
    await running.wait("fw result 2")
    assert await value(server, "stub-1", "/5/0/3") == 0
    assert await value(server, "stub-1", "/5/0/5") == 2


async def test_pull_larger_than_the_slot(server: Lwm2mServer, stub: Launch, signer: Signer) -> None:
    running = await stub(trust(signer), "slot=4096")  # a host-only smaller slot
    await pull(server, "stub-1", make_package(signer, size=6000))
    await running.wait("fw result 2")
    assert await value(server, "stub-1", "/5/0/5") == 2


async def test_pull_of_a_missing_package_and_cancel(
    server: Lwm2mServer, stub: Launch, signer: Signer
) -> None:
    running = await stub("board=mps2-an385", trust(signer))
    uri = f"coap://192.0.2.2:{server.port}/fw/missing.pkg"
    assert answered(await server.write("stub-1", "/5/0/1", SingleResource(1, T.STRING, uri))
                    ).success  # fmt: skip
    await running.wait("fw result 7")
    # a push, then an empty write cancels the downloaded package
    assert await push(server, "stub-1", make_package(signer)) is ResponseCode.CHANGED
    await running.wait("fw state 2")
    assert await push(server, "stub-1", b"") is ResponseCode.CHANGED
    assert await value(server, "stub-1", "/5/0/3") == 0
    assert await value(server, "stub-1", "/5/0/5") == 0


# ---- de-registration --------------------------------------------------------------------------


async def test_deregisters_and_exits_after_duration(server: Lwm2mServer, stub: Launch) -> None:
    events: list[Event] = []
    with server.events.listening(events.append):
        running = await stub("duration=1")
        await asyncio.to_thread(running.proc.wait, 10)
    assert running.proc.returncode == 0
    assert running.lines[-2:] == ["deregistered", "exit"]
    assert server.registrations.by_endpoint("stub-1") is None
    assert [e.kind for e in events] == [EventKind.REGISTRATION, EventKind.DEREGISTRATION]


# ---- CoAP transport, against a raw peer ------------------------------------------------------


class Peer(asyncio.DatagramProtocol):
    """A raw UDP socket on 127.0.0.1: sends and receives exact CoAP messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.raw = b""
        """The last datagram received."""

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def receive(self, timeout: float = 2.0) -> tuple[aiocoap.Message, tuple[str, int]]:
        data, addr = await asyncio.wait_for(self.queue.get(), timeout)
        self.raw = data
        return aiocoap.Message.decode(data), addr

    async def ask(self, message: aiocoap.Message, port: int) -> aiocoap.Message:
        """Sends a request and returns the stub's answer to it (skipping anything else)."""
        self.send(message.encode(), port)
        async with asyncio.timeout(2):
            while True:
                answer, _ = await self.receive()
                if answer.mtype in (ACK, RST) and answer.mid == message.mid:
                    return answer  # piggybacked, or a reset
                if message.token and answer.token == message.token:
                    return answer  # separate (NON to a NON request)


@asynccontextmanager
async def listening() -> AsyncIterator[Peer]:
    """A Peer on a free port of 127.0.0.1, closed on the way out."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield protocol
    finally:
        transport.close()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    async with listening() as opened:
        yield opened


@pytest.fixture
async def sink() -> AsyncIterator[Peer]:
    """A server that never answers: the stub's Register goes there, not to `peer`."""
    async with listening() as opened:
        yield opened


def request(code: Code, path: str = "", mid: int = 1, mtype: Any = CON, **options: Any
            ) -> aiocoap.Message:  # fmt: skip
    message = raw_message(mtype, mid, code, mid.to_bytes(2, "big"), **options)
    message.opt.uri_path = [s for s in path.split("/") if s]
    return message


async def test_retransmits_and_handles_separate_responses_and_404_on_update(
    peer: Peer, launch: Launch
) -> None:
    """A fake server: it ignores the first Register (the stub retransmits the same message
    after ACK_TIMEOUT..ACK_TIMEOUT*1.5), answers the second, answers the Update with 4.04
    (the stub registers again) and that Register with an empty ACK and a separate CON 2.01."""
    running = await launch(peer.port, lifetime=2)
    first, _ = await peer.receive()
    started = asyncio.get_running_loop().time()
    assert first.code == Code.POST and first.opt.uri_path == ("rd",)
    assert set(first.opt.uri_query) >= {"ep=stub-1", "lt=2", "lwm2m=1.1", "b=U"}
    assert first.opt.content_format == 40 and b"</3/0>" in first.payload
    again, addr = await peer.receive(4)
    waited = asyncio.get_running_loop().time() - started
    assert again.mid == first.mid and again.token == first.token and 1.8 < waited < 3.5
    created = raw_message(ACK, again.mid, Code.CREATED, again.token)
    created.opt.location_path = ("rd", "abc")
    peer.send(created.encode(), addr[1])
    await running.wait("registered /rd/abc")
    update, _ = await peer.receive(3)  # at half the lifetime
    assert update.code == Code.POST and update.opt.uri_path == ("rd", "abc")
    peer.send(raw_message(ACK, update.mid, Code.NOT_FOUND, update.token).encode(), addr[1])
    register, _ = await peer.receive()
    assert register.opt.uri_path == ("rd",)
    peer.send(raw_message(ACK, register.mid, Code.EMPTY).encode(), addr[1])
    separate = raw_message(CON, 7, Code.CREATED, register.token)
    separate.opt.location_path = ("rd", "def")
    peer.send(separate.encode(), addr[1])
    ack, _ = await peer.receive()
    assert ack.mtype == ACK and ack.mid == 7 and ack.code == Code.EMPTY
    await running.wait("registered /rd/def")


async def test_duplicates_get_the_same_answer(peer: Peer, sink: Peer, launch: Launch) -> None:
    running = await launch(sink.port)
    write = request(Code.PUT, "/32100/0/5", mid=40, payload=b"a", content_format=0)
    first = await peer.ask(write, running.port)
    assert first.code == Code.CHANGED and first.mtype == ACK
    answered = peer.raw
    peer.send(write.encode(), running.port)
    await peer.receive()
    assert peer.raw == answered
    await running.wait("write /32100/0/5")
    await peer.ask(request(Code.GET, "/32100/0/5", mid=41), running.port)  # in order after it
    await asyncio.sleep(0.1)
    assert running.lines.count("write /32100/0/5") == 1  # processed once


async def test_block1_rules(peer: Peer, sink: Peer, launch: Launch) -> None:
    running = await launch(sink.port)
    port = running.port

    def block(num: int, more: bool, szx: int, payload: bytes, mid: int, **options: Any
              ) -> aiocoap.Message:  # fmt: skip
        message = request(Code.PUT, "/5/0/0", mid=mid, payload=payload, content_format=42,
                          **options)  # fmt: skip
        message.opt.block1 = (num, more, szx)
        return message

    first = await peer.ask(block(0, True, 6, bytes(1024), 1, size1=3000), port)
    assert first.code == Code.CONTINUE and tuple(first.opt.block1) == (0, True, 6)
    skipped = await peer.ask(block(2, True, 6, bytes(1024), 2), port)
    assert skipped.code == Code.REQUEST_ENTITY_INCOMPLETE  # 4.08: out of order
    short = await peer.ask(block(1, True, 6, bytes(10), 3), port)
    assert short.code == Code.BAD_REQUEST  # only the last block may be short
    # a smaller size from here on: block 4 of 256 bytes starts at 1024
    smaller = await peer.ask(block(4, True, 4, bytes(256), 4), port)
    assert smaller.code == Code.CONTINUE and tuple(smaller.opt.block1) == (4, True, 4)
    cancel = await peer.ask(request(Code.PUT, "/5/0/0", mid=5, content_format=42), port)
    assert cancel.code == Code.CHANGED
    await running.wait("fw state 0")
    huge = await peer.ask(block(0, True, 6, bytes(1024), 6, size1=SLOT + 1), port)
    assert huge.code == Code.REQUEST_ENTITY_TOO_LARGE and huge.opt.size1 == SLOT - SLOT_ALIGN
    await running.wait("fw result 2")


async def test_hostile_datagrams(peer: Peer, sink: Peer, launch: Launch) -> None:
    """Malformed CoAP, bad options and bad payloads: the stub answers each request that has a
    well-formed header with a well-formed message (an error, or RST), never crashes, and still
    serves a normal request afterwards."""
    running = await launch(sink.port)
    port = running.port
    rng = random.Random(7)
    header = bytes([0x42, 0x01, 0x12, 0x34, 0xAB, 0xCD])  # CON GET mid 0x1234, 2-byte token
    malformed = [
        b"",
        b"\x40",
        b"\x40\x01\x00",
        bytes([0x49, 1, 9, 9]) + bytes(9),  # token length 9
        bytes([0x4F, 1, 9, 9]),
        header + b"\xd1",
        header + b"\xe1\x00",  # truncated extended
        header + b"\xb5abc",
        header + b"\xff",
        header + b"\xf0",
        header + b"\x0f",  # 15 nibbles
        bytes([0x40, 0, 9, 9, 0]),  # an empty message with bytes after the header
        bytes([0x40, 0x20, 9, 9]) + b"\xff" + b"x",  # reserved code class 1
        bytes([0x40, 0xE0, 9, 9]),  # reserved class 7
    ]
    cases = [(data, True) for data in malformed]
    cases += [(rng.randbytes(rng.randrange(0, 80)), False) for _ in range(1500)]
    cases += [(header + rng.randbytes(rng.randrange(1, 40)), True) for _ in range(500)]
    for n, (data, _) in enumerate(cases):
        peer.send(data, port)
        if n % 50 == 49:  # keep pace: a CoAP ping is answered with RST in order
            ping = raw_message(CON, 60000 + n // 50, Code.EMPTY)
            assert (await peer.ask(ping, port)).mtype == RST
    # requests with a valid header but hostile content: each gets a well-formed error
    bad_tlv = [rng.randbytes(rng.randrange(1, 30)) for _ in range(200)]
    expected: list[tuple[aiocoap.Message, set[Code]]] = []
    for i, tlv in enumerate(bad_tlv):
        path = rng.choice(["/3/0", "/32100/0", "/1/0/0", "/3/0/0"])
        expected.append((request(Code.PUT, path, mid=i + 1, payload=tlv, content_format=11542),
                         {Code.BAD_REQUEST, Code.NOT_FOUND, Code.METHOD_NOT_ALLOWED}))  # fmt: skip
    critical = request(Code.GET, "/3/0", mid=300)
    critical.opt.add_option(aiocoap.optiontypes.OpaqueOption(9, b"x"))  # unknown critical
    expected.append((critical, {Code.BAD_OPTION}))
    expected.append((request(Code.GET, "/3/0/x", mid=301), {Code.NOT_FOUND}))
    expected.append((request(Code.GET, "/3/0/0/0/0", mid=302), {Code.NOT_FOUND}))
    expected.append((request(Code.GET, "/3/0", mid=303, accept=60), {Code.NOT_ACCEPTABLE}))
    expected.append(
        (
            request(Code.PUT, "/3/0", mid=304, payload=b"\xa1", content_format=112),
            {Code.UNSUPPORTED_CONTENT_FORMAT},
        )
    )  # SenML-CBOR: not supported
    expected.append((request(Code.FETCH, "/3/0", mid=305), {Code.METHOD_NOT_ALLOWED}))
    expected.append((request(Code.POST, "/5/0/2", mid=306), {Code.METHOD_NOT_ALLOWED}))
    expected.append((request(Code.PUT, "/1/0/1", mid=307, payload=b"-5", content_format=0),
                     {Code.BAD_REQUEST}))  # fmt: skip
    many = request(Code.GET, "/3/0", mid=308)
    many.opt.uri_query = [f"q{i}" for i in range(40)]
    expected.append((many, {Code.BAD_OPTION}))
    big2 = request(Code.GET, "/3/0", mid=309)
    big2.opt.block2 = (1000, False, 4)
    expected.append((big2, {Code.BAD_REQUEST}))
    expected.append((request(Code.PUT, "/32101/0/6", mid=310, payload=b"2", content_format=0),
                     {Code.BAD_REQUEST}))  # fmt: skip
    for message, codes in expected:
        try:
            answer = await peer.ask(message, port)
        except TimeoutError:
            raise AssertionError(
                f"no answer to {message} {message.payload!r}: "
                f"alive {running.alive}, log {running.lines}"
            ) from None
        assert answer.code in codes and answer.mid == message.mid, (message, answer)
    # unsolicited responses are rejected (CON with RST), NON ones dropped
    stray = raw_message(CON, 400, Code.CONTENT, b"zz", payload=b"x")
    assert (await peer.ask(stray, port)).mtype == RST
    peer.send(raw_message(NON, 401, Code.CONTENT, b"z").encode(), port)
    assert running.alive
    answer = await peer.ask(request(Code.GET, "/3/0/0", mid=500, accept=0), port)
    assert answer.code == Code.CONTENT and answer.payload == b"lwm2m-mlaas"
    assert len(cases) + len(expected) > 2000
