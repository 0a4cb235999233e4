"""A simulated LwM2M client, faithful to Zephyr's: registration forms, lifetime and early
update, de-register on exit, queue mode, 512-byte blocks; objects 1, 3, 5 and the ML objects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiocoap
import aiocoap.resource as coap_resource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON
from aiocoap.transports.udp6 import UDP6EndpointAddress

from ..coap import (
    Exchanges,
    block_exp,
    bound_port,
    message_interface,
    send_datagram,
    server_context,
    set_block_size,
)
from ..core import firmware_update as fw
from ..core.codecs import codec_for, senml_codec
from ..core.content_format import ContentFormat
from ..core.ddf import load_default
from ..core.errors import CodecError, Lwm2mError, ResponseCode, UnsupportedContentFormat
from ..core.linkformat import Link, format_link_format
from ..core.model import ObjectRegistry
from ..core.nodes import Node, SingleResource, Value
from ..core.paths import Lwm2mPath
from ..core.security import OscoreSetting
from ..oscore import OscoreContext, OscoreLookup
from .accounts import ServerAccount, bootstrap_account, dm_account, install_account
from .firmware import DELIVERY, FirmwareUpdate
from .ml import ML_CAPABILITY, ML_INFERENCE, MlSlot
from .objects import SECURITY_OBJECTS, ObjectTree
from .profile import BOARDS, BoardProfile

log = logging.getLogger(__name__)

UPDATE_EARLY = 6.0
"""Zephyr's CONFIG_LWM2M_SECONDS_TO_UPDATE_EARLY."""


CURRENT_TIME = Lwm2mPath.of(3, 0, 13)


class Message(NamedTuple):
    method: str
    path: str
    block1: tuple[int, int] | None
    """(block number, block size)"""
    block2: tuple[int, int] | None


MUTE_SEND = 23
"""Server object resource: the device must not Send while it is true (LwM2M 1.1)."""
STEP_DELAY = 0.1
"""Seconds a device waits after answering an Execute before it acts on it."""
REGISTER_RETRIES = 3
REGISTER_RETRY_DELAY = 1.0
"""After a bootstrap, a Register that fails on the network or gets no answer in time is tried
again (LwM2M 1.1 6.2.1.1, the registration retry procedure): this often, the first this long
after, each next twice as long."""
REGISTRATION_FORMS = ("senml-cbor", "json-rt", "versioned", "plain", "root-path")


@dataclass(frozen=True)
class DeviceConfig:
    endpoint: str
    server: str = "coap://127.0.0.1:5683"
    lifetime: int = 30
    lwm2m_version: str = "1.1"
    queue_mode: bool = False
    awake_time: float = 10.0
    """Seconds a queue-mode device listens after each Register / Update."""
    registration_form: str = "senml-cbor"
    """One of REGISTRATION_FORMS: the payload shapes Zephyr and other clients send."""
    root_path: str = "/lwm2m"
    """Alternate path served when registration_form is 'root-path'."""
    block_size: int = 512
    board: BoardProfile = field(default_factory=lambda: BOARDS["nrf52840"])
    task: str = "gesture"
    bind_host: str = "127.0.0.1"
    trust_key: bytes | None = None
    """The service's Ed25519 package signing key (PEM or the 32 raw bytes); without one no
    package can be trusted, so every package is refused with result 6."""
    reports_trusted_keys: bool = True
    """List the ids of the keys it trusts in /32100/0/9 (older firmware does not)."""
    trust_updates: bool = True
    """Take trust statements in /32100/0/10: a new key, signed by a key it trusts."""
    delivery: str = "both"
    """Firmware delivery methods the device accepts (/5/0/9): 'pull', 'push' or 'both'."""
    inference_interval: float = 1.0
    """Seconds between inferences of the installed model; 0 disables inference."""
    send_interval: float = 0.0
    """Seconds between Sends of the ML Inference results (/32101/0) to the server, unless
    Send is muted (/1/x/23); 0 sends none."""
    corrupt_fraction: float = 0.0
    """Fault injection: the share of received packages that get a payload byte flipped."""
    seed: int = 0
    """With the endpoint, seeds the device's fault injection and sensor data."""
    psk_identity: str | None = None
    """DTLS-PSK identity, for a coaps:// server."""
    psk_key: bytes | None = None
    """DTLS pre-shared key (tinydtls takes up to 16 bytes)."""
    oscore: OscoreSetting | None = None
    """OSCORE context with the (coap://) server instead of DTLS, the device's view: its own
    Sender ID first."""
    bootstrap: bool = False
    """`server` is a bootstrap server and the PSK the factory bootstrap credential: the device
    asks it for its LwM2M server account before it registers (and again when that fails)."""
    server_timeout: float = 30.0
    """Seconds an Update or Register waits for the server before the device tries the next
    step (register again, then bootstrap)."""
    record_messages: bool = True
    """Keep every request that reaches the device in `messages` (tests look at them; a fleet
    of thousands in a benchmark keeps none)."""

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY:
            raise ValueError(f"delivery {self.delivery!r} is not one of {', '.join(DELIVERY)}")
        if not 0.0 <= self.corrupt_fraction <= 1.0:
            raise ValueError(f"corrupt_fraction {self.corrupt_fraction} is not within 0..1")


_oscore_flash: dict[tuple[bytes, bytes, bytes], OscoreContext] = {}
"""The OSCORE contexts of simulated devices, by (sender id, recipient id, secret): their
sender sequence numbers outlive a device restart for as long as the process runs."""


def _oscore_context(setting: OscoreSetting) -> OscoreContext:
    key = (setting.sender_id, setting.recipient_id, setting.master_secret)
    previous = _oscore_flash.get(key)
    context = OscoreContext(setting, "server",
                            0 if previous is None else previous.sender_sequence_number + 1)
    _oscore_flash[key] = context
    return context


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class SimulatedDevice:
    def __init__(self, config: DeviceConfig, model: ObjectRegistry | None = None) -> None:
        self.config = config
        self.model = model or load_default()
        self.tree = ObjectTree(self.model)
        self.lifetime = config.lifetime
        self.location: str | None = None
        self.context: aiocoap.Context | None = None
        self.messages: list[Message] = []
        """Every request message (each block) that reached the device (`record_messages`)."""
        self.exchanges: Exchanges | None = None
        """Package blocks it pulls from a NoSec server leave straight from its socket."""
        self.registered = asyncio.Event()
        self.registrations_lost = 0
        """Updates answered 4.04: the server had dropped the registration (it expired)."""
        self._objects_changed = False
        self._lifetime_changed = False
        self._awake_until = 0.0
        self._update_now = asyncio.Event()
        self._next_step: str | None = None
        """'bootstrap', 'disable' or 'reboot', asked by the server through an Execute."""
        self._observed = asyncio.Event()
        """Set while the server observes /3/0/13 (or a path above it)."""
        self._clock_observers = 0
        self.attributes_written = asyncio.Event()
        """Set (and replaced by a new one) each time the server writes attributes."""
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[Lwm2mPath], None]] = []
        self._install_objects()
        self.account: ServerAccount | None = None
        """The server account the open context speaks to."""
        self.bootstrapping = False
        self.bootstraps = 0
        """Bootstraps finished (the log line "Bootstrap transfer complete" of Zephyr's client)."""
        self.reboots = 0
        self._bootstrap_finished: asyncio.Future[None] | None = None
        self.bootstrap_heard = 0.0
        """When the bootstrap server last sent a request (monotonic)."""
        self._server_remote: Any = None
        self._plain_remote: Any = None
        """The NoSec server's address as first resolved, for the requests after."""
        self.ml = MlSlot(self)
        self.firmware = FirmwareUpdate(self, self.ml.install)

    # object set-up
    def _install_objects(self) -> None:
        c, tree = self.config, self.tree
        board = c.board
        identity = None if c.psk_identity is None else c.psk_identity.encode()
        install_account(tree, 0, ServerAccount(
            c.server, c.bootstrap, identity, c.psk_key, 0 if c.bootstrap else 1, oscore=c.oscore))
        initial: dict[str, Value | dict[int, Value]] = {} if c.bootstrap else {
            "/1/0/0": 1,
            "/1/0/1": c.lifetime,
            "/1/0/2": 0,
            "/1/0/3": 0,
            "/1/0/5": 86400,
            "/1/0/6": False,
            "/1/0/7": self.binding,
            "/1/0/23": False,
        }
        initial |= {
            "/3/0/0": board.manufacturer,
            "/3/0/1": f"sim-{board.board}",
            "/3/0/2": f"SN-{c.endpoint}",
            "/3/0/3": "1.0.0",
            "/3/0/6": {0: 1, 1: 5},  # internal battery, USB
            "/3/0/7": {0: 3700, 1: 5000},  # mV
            "/3/0/8": {0: 20, 1: 80},  # mA
            "/3/0/9": 100,
            "/3/0/11": {0: 0},
            "/3/0/13": _now(),
            "/3/0/14": "+00:00",
            "/3/0/15": "UTC",
            "/3/0/16": "U",
            "/3/0/17": board.board,
            "/3/0/18": "1.0",
            "/3/0/19": "1.0.0",
            "/3/0/21": board.ml_flash // 1024,
            str(fw.PACKAGE): b"",
            str(fw.PACKAGE_URI): "",
            str(fw.STATE): int(fw.FirmwareState.IDLE),
            str(fw.UPDATE_RESULT): int(fw.FirmwareResult.INITIAL),
            str(fw.PKG_NAME): "",
            str(fw.PKG_VERSION): "",
            str(fw.PROTOCOL_SUPPORT): {0: 0},  # CoAP
            str(fw.DELIVERY_METHOD): DELIVERY[c.delivery],
            f"/{ML_CAPABILITY}/0/0": board.core,
            f"/{ML_CAPABILITY}/0/1": board.clock_mhz,
            f"/{ML_CAPABILITY}/0/2": board.ml_ram,
            f"/{ML_CAPABILITY}/0/3": board.ml_flash,
            f"/{ML_CAPABILITY}/0/4": dict(enumerate(board.runtimes)),
            f"/{ML_CAPABILITY}/0/5": c.task,
            f"/{ML_CAPABILITY}/0/6": "",
            f"/{ML_CAPABILITY}/0/7": "",
            f"/{ML_CAPABILITY}/0/8": board.board,
            f"/{ML_INFERENCE}/0/0": "",
            f"/{ML_INFERENCE}/0/1": "",
            f"/{ML_INFERENCE}/0/2": 0,
            f"/{ML_INFERENCE}/0/3": "",
            f"/{ML_INFERENCE}/0/4": 0.0,
            f"/{ML_INFERENCE}/0/5": 0,
            f"/{ML_INFERENCE}/0/6": True,
        }
        for path, value in initial.items():
            tree.set(path, value)
        tree.on_execute("/1/0/8", lambda _args: self._update_now.set())
        tree.on_execute("/1/0/9", lambda _args: self._request_step("bootstrap"))
        tree.on_execute("/1/0/4", lambda _args: self._request_step("disable"))
        for rid in (4, 8, 9):
            tree.executors[(1, 1, rid)] = tree.executors[(1, 0, rid)]
        tree.on_execute("/3/0/4", lambda _args: self._request_step("reboot"))
        tree.on_execute("/3/0/5", lambda _args: log.info("%s: factory reset", c.endpoint))
        tree.on_write(1, 1, self._lifetime_written)
        tree.listeners.append(self._on_change)

    def _lifetime_written(self, _path: Lwm2mPath, value: Any) -> None:
        if self.bootstrapping:
            return  # the new account's lifetime applies once bootstrap finishes
        self.lifetime = int(value)
        self._lifetime_changed = True
        self._update_now.set()

    def _on_change(self, path: Lwm2mPath) -> None:
        if path.is_object:
            self._objects_changed = True
        for listener in list(self._listeners):
            listener(path)

    # registration payload
    def object_links(self) -> str:
        form = self.config.registration_form
        root = self.config.root_path.rstrip("/") if form == "root-path" else ""
        links = []
        if form == "senml-cbor":
            links.append("</>;ct=112")
        elif form == "json-rt":
            links.append('</>;rt="oma.lwm2m";ct=11543')
        elif form == "root-path":
            links.append(f'<{root}>;rt="oma.lwm2m";ct=11542')
        for o in sorted(self.tree.data):
            if o == 0:
                continue
            model = self.model.object(o)
            if form == "versioned" and model is not None and model.version != "1.0":
                links.append(f"<{root}/{o}>;ver={model.version}")
            instances = sorted(self.tree.data[o])
            if not instances:
                links.append(f"<{root}/{o}>")
            links.extend(f"<{root}/{o}/{i}>" for i in instances)
        return ",".join(links)

    @property
    def binding(self) -> str:
        return "UQ" if self.config.queue_mode and self.config.lwm2m_version == "1.0" else "U"

    # life cycle
    async def open(self, account: ServerAccount | None = None) -> None:
        """Bind the device's socket for `account` (default: its LwM2M server's, else its
        bootstrap server's); a socket open for another account is closed first."""
        account = account or dm_account(self.tree) or bootstrap_account(self.tree)
        assert account is not None, "the device has no server account"
        if self.context is not None and account == self.account:
            return
        await self._close()
        self.account = account
        self._plain_remote = None
        if account.secure:
            self.context = await aiocoap.Context.create_client_context(transports=["tinydtls"])
            self.context.serversite = DeviceResource(self)  # answers the server over DTLS
            self.context.client_credentials.load_from_dict({
                account.uri.rstrip("/") + "/*": {"dtls": {
                    "psk": account.key or b"",
                    "client-identity": account.identity or b""}}})  # fmt: skip
        elif account.oscore is not None:
            oscore = _oscore_context(account.oscore)
            self.context = await server_context(DeviceResource(self), self.config.bind_host, 0,
                                                oscore=OscoreLookup(oscore))  # fmt: skip
            self.context.client_credentials[account.uri.rstrip("/") + "/*"] = oscore
            self._install_sleep_filter()
        else:
            resource = DeviceResource(self)
            self.context = await server_context(resource, self.config.bind_host, 0)
            self.exchanges = Exchanges(self.context)
            _answer_blocks_directly(self.context, resource)
            self._install_sleep_filter()

    @property
    def secure(self) -> bool:
        """Talks to its server over DTLS (a coaps:// server URI)."""
        return self.account is not None and self.account.secure

    async def start(self, register_timeout: float = 30.0) -> None:
        """Open the socket, bootstrap when the device has no LwM2M server account, register,
        and keep the registration alive until `stop()`."""
        bootstrapped = dm_account(self.tree) is None
        if bootstrapped:
            await self.bootstrap(register_timeout)
        await self.open()
        if bootstrapped:
            await self._register_retrying(register_timeout)
        else:
            await self._register_or_bootstrap(register_timeout)
        self.keep_alive()

    async def _register_or_bootstrap(self, timeout: float) -> None:
        """Register; when that fails and there is a bootstrap server account, bootstrap and
        register with the server it names (LwM2M 1.1 6.2.1.1, bootstrap on failure)."""
        try:
            await self.register(timeout)
        except (TimeoutError, aiocoap.error.Error, RuntimeError) as exc:
            if bootstrap_account(self.tree) is None:
                raise
            log.info("%s: register failed (%s); bootstrapping", self.config.endpoint, exc)
            await self.bootstrap(timeout)
            await self._register_retrying(timeout)

    async def _register_retrying(self, timeout: float) -> None:
        """Register with the server a bootstrap just named, which may not answer at once (a
        handshake it is not ready for, or a burst of devices arriving with this one)."""
        delay = REGISTER_RETRY_DELAY
        for retry in range(REGISTER_RETRIES + 1):
            try:
                await self.register(timeout)
                return
            except (TimeoutError, aiocoap.error.NetworkError):
                if retry == REGISTER_RETRIES:
                    raise
                await asyncio.sleep(delay * random.uniform(1.0, 1.5))
                delay *= 2

    async def bootstrap(self, timeout: float = 30.0) -> None:
        """Client-initiated bootstrap (LwM2M 1.1 5.2.7.2): Bootstrap-Request, then the server's
        deletes and writes, until its Bootstrap-Finish. It fails when the request gets no
        answer, or the server says nothing more, within `timeout` s."""
        account = bootstrap_account(self.tree)
        if account is None:
            raise RuntimeError(f"{self.config.endpoint}: no bootstrap server account")
        await self.open(account)
        self.bootstrapping = True
        self._bootstrap_finished = asyncio.get_running_loop().create_future()
        pct = ContentFormat.TLV if self.config.lwm2m_version == "1.0" else ContentFormat.SENML_CBOR
        try:
            answer = await self._request(Code.POST, "/bs", (f"ep={self.config.endpoint}",
                                                            f"pct={int(pct)}"), timeout=timeout)
            if answer.code != Code.CHANGED:
                raise RuntimeError(f"{self.config.endpoint}: bootstrap request answered "
                                   f"{answer.code}: {answer.payload.decode(errors='replace')}")
            await self._until_bootstrap_finished(timeout)
        finally:
            self.bootstrapping = False
        self.bootstraps += 1
        dm = dm_account(self.tree)
        if dm is None or dm.lifetime is None:  # (a bootstrap server's late session took it)
            raise RuntimeError(f"{self.config.endpoint}: bootstrap left no LwM2M server")
        self.lifetime = dm.lifetime
        self.location = None
        await self.open(dm)
        log.debug("%s bootstrapped: LwM2M server %s", self.config.endpoint, dm.uri)

    async def _until_bootstrap_finished(self, quiet: float) -> None:
        """Wait for Bootstrap-Finish while the server goes on configuring the device: each of
        its requests gives it another `quiet` s (a busy server's sequence may take longer)."""
        assert self._bootstrap_finished is not None
        self.bootstrap_heard = time.monotonic()
        while True:
            left = self.bootstrap_heard + quiet - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.config.endpoint}: the bootstrap server fell silent")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._bootstrap_finished), left)
                return

    def finish_bootstrap(self) -> None:
        """Bootstrap-Finish: 4.06 unless the configuration names a usable LwM2M server."""
        if not self.bootstrapping or self._bootstrap_finished is None:
            raise Lwm2mError("no bootstrap under way", code=ResponseCode.BAD_REQUEST)
        if dm_account(self.tree) is None:
            raise Lwm2mError("no LwM2M server account with a Server instance",
                             code=ResponseCode.NOT_ACCEPTABLE)  # fmt: skip
        if not self._bootstrap_finished.done():
            self._bootstrap_finished.set_result(None)

    def keep_alive(self) -> None:
        """Run Zephyr's update loop (update `UPDATE_EARLY` s before the lifetime ends)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"sim {self.config.endpoint}")

    async def stop(self, deregister: bool = True) -> None:
        self.ml.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if deregister and self.location is not None:
            with contextlib.suppress(Exception):
                await self._request(Code.DELETE, self.location, timeout=5)
            self.location = None
        await self._close()

    async def _close(self) -> None:
        """Close the socket; what the server observed on it goes with it."""
        if self.exchanges is not None:
            self.exchanges.close()
            self.exchanges = None
        if self.context is not None:
            await self.context.shutdown()
            self.context = None

    async def __aenter__(self) -> SimulatedDevice:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self.context is not None
        return bound_port(self.context)

    def _wake(self) -> None:
        self._awake_until = time.monotonic() + self.config.awake_time

    @property
    def awake(self) -> bool:
        return not self.config.queue_mode or time.monotonic() < self._awake_until

    def _install_sleep_filter(self) -> None:
        """Queue mode: while asleep the radio is off, so incoming datagrams are lost."""
        if not self.config.queue_mode:
            return
        assert self.context is not None
        interface = message_interface(self.context)
        receive = interface.datagram_msg_received

        def filtered(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
            if self.awake:
                receive(data, ancdata, flags, address)

        interface.datagram_msg_received = filtered

    async def _request(
        self,
        code: Code,
        path: str,
        query: tuple[str, ...] = (),
        payload: bytes = b"",
        content_format: int | None = None,
        timeout: float = 10.0,
    ) -> aiocoap.Message:
        assert self.context is not None
        self._wake()  # the radio is on from a send until the awake time has passed
        assert self.account is not None
        plain = not self.account.secure and self.account.oscore is None
        if plain and self._plain_remote is not None:  # no address resolution each time
            msg = aiocoap.Message(code=code, payload=payload,
                                  uri_path=[p for p in path.split("/") if p])  # fmt: skip
            msg.remote = self._plain_remote
        else:
            msg = aiocoap.Message(code=code, uri=self.account.uri.rstrip("/") + path,
                                  payload=payload)  # fmt: skip
        if query:
            msg.opt.uri_query = query
        if content_format is not None:
            msg.opt.content_format = content_format
        async with asyncio.timeout(timeout):
            # (block-wise only when the payload needs it: aiocoap's layer costs a task a request)
            blockwise = len(payload) > 1024
            if not blockwise and self.exchanges is not None and self.exchanges.handles(msg.remote):
                answer = await self.exchanges.request(msg)  # (a NoSec server, once resolved)
            else:
                answer = await self.context.request(msg, handle_blockwise=blockwise).response
        # aiocoap holds DTLS client connections weakly: keep the session the server uses
        self._server_remote = answer.remote
        if plain:
            self._plain_remote = msg.remote
        return answer

    async def register(self, timeout: float = 30.0) -> None:
        c = self.config
        query = [f"ep={c.endpoint}", f"lt={self.lifetime}", f"lwm2m={c.lwm2m_version}"]
        if c.queue_mode and c.lwm2m_version == "1.0":
            query.append("b=UQ")
        else:
            query.append("b=U")
            if c.queue_mode:
                query.append("Q")
        answer = await self._request(
            Code.POST,
            "/rd",
            tuple(query),
            self.object_links().encode(),
            int(ContentFormat.LINK),
            timeout=timeout,
        )
        if answer.code != Code.CREATED:
            raise RuntimeError(
                f"{c.endpoint}: register answered {answer.code}: "
                f"{answer.payload.decode(errors='replace')}"
            )
        self.location = "/" + "/".join(answer.opt.location_path)
        self._objects_changed = self._lifetime_changed = False
        self.registered.set()
        log.debug("%s registered at %s", c.endpoint, self.location)

    async def update(self, timeout: float = 30.0) -> None:
        if self.location is None:
            await self.register(timeout)
            return
        # (taken now: a change made while this Update is under way goes in the next one)
        lifetime_changed, objects_changed = self._lifetime_changed, self._objects_changed
        self._objects_changed = self._lifetime_changed = False
        query = (f"lt={self.lifetime}",) if lifetime_changed else ()
        payload = self.object_links().encode() if objects_changed else b""
        try:
            answer = await self._request(
                Code.POST,
                self.location,
                query,
                payload,
                int(ContentFormat.LINK) if payload else None,
                timeout=timeout,
            )
        except BaseException:
            self._lifetime_changed |= lifetime_changed
            self._objects_changed |= objects_changed
            raise
        if answer.code == Code.NOT_FOUND:
            self.registrations_lost += 1
            log.info("%s: registration gone, registering again", self.config.endpoint)
            await self.register()
        elif answer.code != Code.CHANGED:
            raise RuntimeError(f"update answered {answer.code}")

    async def send(self, paths: Iterable[str | Lwm2mPath], timeout: float = 10.0) -> None:
        """Send (LwM2M 1.1 6.4.3): the values at `paths` to the server's /dp, in SenML CBOR.
        RuntimeError when Send is muted (/1/x/23) or the server refuses it."""
        if self.muted:
            raise RuntimeError(f"{self.config.endpoint}: Send is muted (/1/x/23)")
        codec = senml_codec(ContentFormat.SENML_CBOR)
        nodes = self.tree.read_composite(
            p if isinstance(p, Lwm2mPath) else Lwm2mPath.parse(p) for p in paths)
        answer = await self._request(Code.POST, "/dp", (), codec.encode_nodes(nodes, self.model),
                                     int(codec.content_format), timeout=timeout)  # fmt: skip
        if answer.code != Code.CHANGED:
            raise RuntimeError(f"{self.config.endpoint}: Send answered {answer.code}: "
                               f"{answer.payload.decode(errors='replace')}")  # fmt: skip

    @property
    def muted(self) -> bool:
        """Mute Send (/1/x/23) of the LwM2M server account."""
        return any(resources.get(MUTE_SEND) is True
                   for resources in self.tree.data.get(1, {}).values())  # fmt: skip

    def update_interval(self) -> float:
        if self.lifetime > 2 * UPDATE_EARLY:
            return self.lifetime - UPDATE_EARLY
        return self.lifetime / 2

    async def _clock(self) -> None:
        """/3/0/13 Current Time ticks each second while the server observes it (so a fleet
        of devices costs no timer each); reads refresh it (`current_time`)."""
        while True:
            await self._observed.wait()
            await asyncio.sleep(1.0)
            self.tree.set("/3/0/13", _now())

    def current_time(self) -> None:
        """Bring /3/0/13 up to date before a read, without notifying."""
        device = self.tree.data.get(3, {}).get(0)
        if device is not None and 13 in device:
            device[13] = _now()

    async def _run(self) -> None:
        clock = asyncio.create_task(self._clock())
        sending = asyncio.create_task(self._send_results()) if self.config.send_interval else None
        try:
            await self._keep_registered()
        finally:
            clock.cancel()
            if sending is not None:
                sending.cancel()

    async def _send_results(self) -> None:
        """Send the inference results every `send_interval` s while registered and unmuted."""
        while True:
            await asyncio.sleep(self.config.send_interval)
            if self.location is None or self.bootstrapping or self.muted:
                continue
            try:
                await self.send([f"/{ML_INFERENCE}/0"], timeout=self.config.server_timeout)
            except (TimeoutError, aiocoap.error.Error, RuntimeError) as exc:
                log.info("%s: send failed (%s)", self.config.endpoint, exc)

    def _request_step(self, step: str) -> None:
        """Server-initiated bootstrap (/1/x/9), Disable (/1/x/4) or Reboot (/3/0/4), taken by
        the update loop once the 2.04 has gone out."""
        if step == "bootstrap" and bootstrap_account(self.tree) is None:
            raise Lwm2mError("no bootstrap server account", code=ResponseCode.METHOD_NOT_ALLOWED)
        self._next_step = step
        self._update_now.set()

    async def _take_step(self, step: str, timeout: float) -> None:
        await asyncio.sleep(STEP_DELAY)  # (the answer to the Execute goes out first)
        if step == "bootstrap":
            log.info("%s: server-initiated bootstrap", self.config.endpoint)
            await self.bootstrap(timeout)
            await self._register_retrying(timeout)
            return
        if step == "reboot":
            await self.reboot(timeout)
            return
        disabled = self.tree.data.get(1, {}).get(0, {}).get(5, 86400)
        log.info("%s: disabled for %s s", self.config.endpoint, disabled)
        if self.location is not None:
            await self._request(Code.DELETE, self.location, timeout=timeout)
            self.location = None
        await asyncio.sleep(float(disabled))  # type: ignore[arg-type]
        await self.register(timeout)

    async def reboot(self, timeout: float = 30.0) -> None:
        """Restart as after a power cycle: what the server observed, the socket and the
        registration are gone (no De-register); the objects and the installed model stay."""
        log.info("%s: rebooting", self.config.endpoint)
        self.reboots += 1
        account = self.account
        self.account, self.location = None, None
        await self._close()
        self._server_remote = None
        await self.open(account)
        await self._register_retrying(timeout)

    async def _keep_registered(self) -> None:
        while True:
            if not (self._lifetime_changed or self._objects_changed):
                self._update_now.clear()  # (else a change came during the last Update)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._update_now.wait(), self.update_interval())
            if self.bootstrapping:
                continue
            if self._next_step is not None:
                step, self._next_step = self._next_step, None
                with contextlib.suppress(TimeoutError, aiocoap.error.Error, RuntimeError):
                    await self._take_step(step, self.config.server_timeout)
                continue
            if self._objects_changed:
                self._update_now.set()
            timeout = self.config.server_timeout
            try:
                await self.update(timeout)
            except (TimeoutError, aiocoap.error.Error, RuntimeError) as exc:
                log.info("%s: update failed (%s); registering again", self.config.endpoint, exc)
                with contextlib.suppress(TimeoutError, aiocoap.error.Error, RuntimeError):
                    await self._register_or_bootstrap(timeout)  # (else: again at the next turn)

    # request handling (called by DeviceResource)
    @property
    def root_segments(self) -> tuple[str, ...]:
        """The alternate path the device serves its objects under, as URI path segments."""
        if self.config.registration_form != "root-path":
            return ()
        return tuple(s for s in self.config.root_path.split("/") if s)

    def local_path(self, uri_path: tuple[str, ...]) -> Lwm2mPath:
        root = self.root_segments
        if uri_path[: len(root)] != root:
            raise Lwm2mError(f"/{'/'.join(uri_path)} not found", code=ResponseCode.NOT_FOUND)
        return Lwm2mPath.parse("/".join(uri_path[len(root) :]))

    def default_format(self, path: Lwm2mPath, node: Node) -> ContentFormat:
        if isinstance(node, SingleResource):
            if isinstance(node.value, bytes):
                return ContentFormat.OPAQUE
            return ContentFormat.TEXT
        if self.config.lwm2m_version == "1.0":
            return ContentFormat.TLV
        return ContentFormat.SENML_CBOR


class DeviceResource(coap_resource.ObservableResource, coap_resource.PathCapable):
    """The whole device tree as one root resource. Blocks follow the device's block size:
    Block2 answers never exceed it, and Block1 uploads in larger blocks are acknowledged with
    the device's size, so the server continues in smaller blocks (RFC 7959 2.5)."""

    def __init__(self, device: SimulatedDevice) -> None:
        super().__init__()
        self.device = device
        self._uploads: dict[tuple[object, tuple[str, ...]], bytearray] = {}

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        exponent = block_exp(self.device.config.block_size)
        set_block_size(request.remote, exponent)
        self._record(request)
        block2 = request.opt.block2
        if block2 is not None and block2.size_exponent > exponent:
            request.opt.block2 = block2.reduced_to(exponent)
        if request.opt.block1 is not None:
            pipe.add_response(self._upload(request, exponent), is_last=True)
            return
        await super().render_to_pipe(pipe)

    def _record(self, request: aiocoap.Message) -> None:
        if not self.device.config.record_messages:
            return
        block1, block2 = request.opt.block1, request.opt.block2
        self.device.messages.append(
            Message(
                str(request.code),
                "/" + "/".join(request.opt.uri_path),
                None if block1 is None else (block1.block_number, block1.size),
                None if block2 is None else (block2.block_number, block2.size),
            )
        )

    def upload_block(self, request: aiocoap.Message) -> aiocoap.Message:
        """The answer to one block of a Block1 upload."""
        self._record(request)
        return self._upload(request, block_exp(self.device.config.block_size))

    def _upload(self, request: aiocoap.Message, exponent: int) -> aiocoap.Message:
        block = request.opt.block1
        key = (request.remote, tuple(request.opt.uri_path))
        if block.block_number == 0 and not self._push_accepted(request):
            return aiocoap.Message(code=Code.METHOD_NOT_ALLOWED, payload=b"push not accepted")
        received = bytearray() if block.block_number == 0 else self._uploads.get(key)
        if received is None or block.start != len(received):
            self._uploads.pop(key, None)
            return aiocoap.Message(
                code=Code.REQUEST_ENTITY_INCOMPLETE, payload=b"block out of sequence"
            )
        received += request.payload
        if block.more:
            if len(request.payload) != block.size:
                return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"short block")
            self._uploads[key] = received
            answer = aiocoap.Message(code=Code.CONTINUE)
            answer.opt.block1 = (block.block_number, True, min(block.size_exponent, exponent))
            return answer
        self._uploads.pop(key, None)
        response = self.respond(request.copy(payload=bytes(received), block1=None))
        response.opt.block1 = (block.block_number, False, block.size_exponent)
        return response

    def _push_accepted(self, request: aiocoap.Message) -> bool:
        """A pull-only device refuses a pushed package at its first block."""
        try:
            path = self.device.local_path(tuple(request.opt.uri_path))
        except Lwm2mError:
            return True  # answered by respond()
        return path != fw.PACKAGE or self.device.firmware.accepts(0)

    async def add_observation(self, request: aiocoap.Message, serverobservation: Any) -> None:
        try:
            path = self.device.local_path(tuple(request.opt.uri_path))
            paths: tuple[Lwm2mPath, ...] = (path,)
            if request.code == Code.FETCH:  # Observe-Composite
                paths = senml_codec(request.opt.content_format).decode_paths(request.payload)
        except Lwm2mError:
            return
        observer = _Observer(self, request, paths, serverobservation)
        self.device._listeners.append(observer.changed)
        clock = any(p.startswith(CURRENT_TIME) or CURRENT_TIME.startswith(p) for p in paths)
        if clock:
            self.device._clock_observers += 1
            self.device._observed.set()

        def cancelled() -> None:
            observer.stop()
            with contextlib.suppress(ValueError):
                self.device._listeners.remove(observer.changed)
            if clock:
                self.device._clock_observers -= 1
                if not self.device._clock_observers:
                    self.device._observed.clear()

        serverobservation.accept(cancelled)

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        return self.respond(request)

    def respond(self, request: aiocoap.Message) -> aiocoap.Message:
        device = self.device
        try:
            if tuple(request.opt.uri_path) == ("bs",) and request.code == Code.POST:
                device.finish_bootstrap()
                return aiocoap.Message(code=Code.CHANGED)
            path = device.local_path(tuple(request.opt.uri_path))
            if device.bootstrapping:
                device.bootstrap_heard = time.monotonic()
                return self._bootstrap(request, path)
            if request.code in (Code.GET, Code.FETCH):
                device.current_time()
            if path.object_id in SECURITY_OBJECTS:
                raise Lwm2mError("Security and OSCORE objects are for bootstrap servers only",
                                 code=ResponseCode.UNAUTHORIZED)  # fmt: skip
            return self._handle(request, path)
        except Lwm2mError as exc:
            return aiocoap.Message(code=Code(int(exc.code)), payload=str(exc).encode()[:200])

    def _handle(self, request: aiocoap.Message, path: Lwm2mPath) -> aiocoap.Message:
        tree, model = self.device.tree, self.device.model
        fmt = request.opt.content_format
        if request.code == Code.GET:
            if request.opt.accept == ContentFormat.LINK:
                return aiocoap.Message(
                    code=Code.CONTENT,
                    content_format=int(ContentFormat.LINK),
                    payload=format_link_format(tree.discover(path)).encode(),
                )
            node = tree.read(path)
            accept = request.opt.accept
            try:  # (4.06: the format asked for is unknown or cannot carry this node)
                out = (ContentFormat(accept) if accept is not None
                       else self.device.default_format(path, node))  # fmt: skip
                payload = codec_for(out).encode(node, path, model)
            except (ValueError, CodecError, UnsupportedContentFormat) as exc:
                raise Lwm2mError(str(exc), code=ResponseCode.NOT_ACCEPTABLE) from None
            return aiocoap.Message(code=Code.CONTENT, content_format=int(out), payload=payload)
        if request.code == Code.FETCH:
            nodes = tree.read_composite(senml_codec(fmt).decode_paths(request.payload))
            answer = senml_codec(fmt if request.opt.accept is None else request.opt.accept)
            return aiocoap.Message(
                code=Code.CONTENT,
                content_format=int(answer.content_format),
                payload=answer.encode_nodes(nodes, model),
            )
        if request.code == Code.iPATCH and path.is_root:
            if fmt not in (ContentFormat.SENML_CBOR, ContentFormat.SENML_JSON):
                raise Lwm2mError("Write-Composite takes SenML CBOR or JSON",
                                 code=ResponseCode.UNSUPPORTED_CONTENT_FORMAT)  # fmt: skip
            tree.write_composite(senml_codec(fmt).decode_nodes(request.payload, model))
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.PUT and request.opt.uri_query and not request.payload:
            attributes = {}
            for item in request.opt.uri_query:
                name, _, value = item.partition("=")
                attributes[name] = value or None
            tree.write_attributes(path, attributes)
            written, self.device.attributes_written = (self.device.attributes_written,
                                                       asyncio.Event())  # fmt: skip
            written.set()  # (observers waiting for a pmax look again)
            return aiocoap.Message(code=Code.CHANGED)
        if request.code in (Code.PUT, Code.POST) and not path.is_object:
            if request.code == Code.POST and path.is_resource:
                tree.execute(path, request.payload.decode("utf-8", "replace"))
                return aiocoap.Message(code=Code.CHANGED)
            node = self._decode(request, path)
            tree.write(path, node, replace=request.code == Code.PUT)
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.POST and path.is_object:
            node = self._decode(request, path)
            instance_id = tree.create(path, node)
            segments = (*self.device.root_segments, str(path.object_id), str(instance_id))
            return aiocoap.Message(code=Code.CREATED, location_path=segments)
        if request.code == Code.DELETE:
            tree.delete(path)
            return aiocoap.Message(code=Code.DELETED)
        raise Lwm2mError(f"{request.code} not supported", code=ResponseCode.METHOD_NOT_ALLOWED)

    def _bootstrap(self, request: aiocoap.Message, path: Lwm2mPath) -> aiocoap.Message:
        """Bootstrap-Write, Bootstrap-Delete and Bootstrap-Discover (LwM2M 1.1 6.1.7)."""
        tree = self.device.tree
        if request.code == Code.PUT:
            tree.bootstrap_write(path, self._decode(request, path))
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.DELETE:
            tree.bootstrap_delete(path)
            return aiocoap.Message(code=Code.DELETED)
        if request.code == Code.GET and request.opt.accept == ContentFormat.LINK:
            if not (path.is_root or path.is_object):
                raise Lwm2mError("Bootstrap-Discover targets / or an object",
                                 code=ResponseCode.BAD_REQUEST)  # fmt: skip
            links = [Link("/", {"lwm2m": "1.1"})]
            for o in sorted(o for o in tree.data if path.is_root or o == path.object_id):
                for i, res in sorted(tree.data[o].items()):
                    attributes: dict[str, str | None] = {}
                    if o == 1 or (o == 0 and res.get(1) is False):  # a DM server's account
                        attributes["ssid"] = str(res.get(0 if o == 1 else 10))
                    if o == 0:
                        attributes["uri"] = str(res.get(0, ""))
                    links.append(Link(f"/{o}/{i}", attributes))
            return aiocoap.Message(code=Code.CONTENT, content_format=int(ContentFormat.LINK),
                                   payload=format_link_format(links).encode())  # fmt: skip
        raise Lwm2mError(f"{request.code} is not a bootstrap operation",
                         code=ResponseCode.METHOD_NOT_ALLOWED)  # fmt: skip

    def _decode(self, request: aiocoap.Message, path: Lwm2mPath) -> Node:
        fmt = request.opt.content_format
        if fmt is None:
            raise Lwm2mError("payload without content format", code=ResponseCode.BAD_REQUEST)
        return codec_for(fmt).decode(request.payload, path, self.device.model)


def _answer_blocks_directly(context: aiocoap.Context, resource: DeviceResource) -> None:
    """The blocks of an upload (a pushed package: hundreds of confirmable PUTs with Block1) are
    answered from the socket with a piggybacked ACK, without aiocoap's exchange, token, pipe
    and site layers; a retransmitted block is answered as before, not taken twice."""
    udp = message_interface(context)
    receive = udp.datagram_msg_received
    last: dict[Any, tuple[int, bytes]] = {}
    """The last block answered per peer: (message id, encoded answer)."""

    def datagram(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        if len(data) > 4 and data[0] >> 4 == 4 and data[1] in (2, 3):  # CON POST or PUT
            peer, mid = address[:2], int.from_bytes(data[2:4], "big")
            previous = last.get(peer)
            if previous is not None and previous[0] == mid:
                send_datagram(udp, previous[1], UDP6EndpointAddress(address, udp))
                return
            try:
                request = aiocoap.Message.decode(data, UDP6EndpointAddress(address, udp))
            except Exception:  # (aiocoap's own path answers or drops it)
                request = None
            if request is not None and request.opt.block1 is not None \
                    and request.opt.observe is None:  # fmt: skip
                try:
                    answer = resource.upload_block(request)
                except Exception as exc:  # a bug must not take the socket down
                    log.exception("%s: upload block", resource.device.config.endpoint)
                    answer = aiocoap.Message(code=Code.INTERNAL_SERVER_ERROR,
                                             payload=str(exc).encode()[:200])  # fmt: skip
                answer.mtype, answer.mid, answer.token = ACK, request.mid, request.token
                answer.remote = request.remote
                encoded = answer.encode()
                last[peer] = (mid, encoded)
                send_datagram(udp, encoded, request.remote)
                return
        receive(data, ancdata, flags, address)

    udp.datagram_msg_received = datagram


class _Observer:
    """One server observation (of one path, or an Observe-Composite's): notify on change, no
    more often than pmin, at least every pmax (the smallest of the paths' attributes).
    Notifications are confirmable, as Zephyr sends them, so a server that forgot the
    observation answers with a reset and the observer goes away."""

    def __init__(self, resource: DeviceResource, request: aiocoap.Message,
                 paths: tuple[Lwm2mPath, ...], observation: Any) -> None:  # fmt: skip
        self.resource = resource
        self.device = resource.device
        self.request = request
        self.paths = paths
        self.observation = observation
        self.last = time.monotonic()
        self._pending: asyncio.TimerHandle | None = None
        self._task = asyncio.get_running_loop().create_task(self._pmax())

    def attribute(self, name: str) -> float | None:
        found = [a for p in self.paths if (a := self.device.tree.attribute(p, name))]
        return min(found, default=None)

    def changed(self, path: Lwm2mPath) -> None:
        if not any(path.startswith(p) or p.startswith(path) for p in self.paths):
            return
        pmin = self.attribute("pmin") or 0.0
        wait = self.last + pmin - time.monotonic()
        if wait <= 0:
            self._notify()
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(wait, self._notify)

    def _notify(self) -> None:
        self._pending = None
        self.last = time.monotonic()
        notification = self.resource.respond(self.request)
        notification.mtype = CON
        self.observation.trigger(notification)

    async def _pmax(self) -> None:
        while True:
            pmax = self.attribute("pmax")
            if not pmax:  # nothing to do until attributes are written
                await self.device.attributes_written.wait()
                continue
            due = self.last + pmax - time.monotonic()
            if due <= 0:
                self._notify()
            else:
                await asyncio.sleep(min(due, 1.0))

    def stop(self) -> None:
        self._task.cancel()
        if self._pending is not None:
            self._pending.cancel()
