"""Typed configuration: defaults, overridden by a TOML file, then MLAAS_* environment variables,
then command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .core.registration import uri_host


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lwm2m-mlaas"


MAX_PACKAGE_URI = 127
"""Longest Package URI (/5/0/1) the server writes: Zephyr's client keeps 128 bytes with the
terminator and reads past a longer one."""
PACKAGE_NAME = 68
"""Characters of a package's name in its URI: <64 hex digits>.pkg."""


@dataclass(frozen=True)
class ServerConfig:
    coap_host: str = "::"
    """Address the CoAP (UDP) server binds; '::' means every IPv4 and IPv6 address."""
    coap_port: int = 5683
    """NoSec CoAP port; LwM2M downlink requests leave from the same socket. -1 switches NoSec
    off (devices must use CoAPs)."""
    coaps_host: str = "127.0.0.1"
    """Address CoAPs (DTLS-PSK) binds: one address, as aiocoap's DTLS server transport cannot
    bind a wildcard."""
    coaps_port: int = 5684
    """CoAPs port; 0 picks a free one, -1 serves no DTLS. Needs DTLSSocket installed."""
    data_dir: Path = field(default_factory=default_data_dir)
    """Folder for the database file and artifacts."""
    db: str = ""
    """SQLite file path or SQLAlchemy URL; empty means <data_dir>/mlaas.db."""
    log_level: str = "INFO"
    """Python logging level name."""
    lifetime_grace: float = 15.0
    """Seconds a registration outlives its lifetime before it is dropped."""
    expiry_interval: float = 1.0
    """Seconds between sweeps for expired registrations."""
    request_timeout: float = 10.0
    """Default seconds to wait for a device's answer to a downlink request."""
    queue_awake_time: float = 93.0
    """Seconds a queue-mode device is taken to listen after it registers or updates
    (LwM2M 1.1 default MAX_TRANSMIT_WAIT)."""
    receive_buffer: int = 4 << 20
    """Bytes the kernel may queue for each server socket (SO_RCVBUF): room for a burst of
    thousands of devices while the event loop is busy, instead of datagrams dropped and sent
    again after a CoAP retransmission timeout."""
    block_size: int = 512
    """Largest block size (bytes) the server sends or asks for unless the device asks less."""
    advertised_host: str = ""
    """Host devices reach this server at: in the package URIs they pull from and the server
    URI the bootstrap server writes. Empty: the bind address, or 127.0.0.1 for a wildcard."""
    provisioning: bool = True
    """Provision devices that register (read, classify, compile, deliver); false runs the
    LwM2M server, rollouts and the REST API without it."""
    provisioning_reads: int = 32
    """Devices read and classified at once: provisioning's downlink requests in flight."""
    compile_queue: int = 4
    """Compiles queued or running at once; a device needing another one waits its turn."""
    max_transfers: int = 128
    """Package deliveries in flight at once (an eighth of them while /rd is busy: see
    `registration_busy`). Each is one block in flight, so under load a delivery's time is
    mostly round trips: a fleet is provisioned at about max_transfers / (delivery time)."""
    registration_busy: int = 8
    """Registration interface requests (/rd) in flight at which provisioning and delivery
    steps wait for them to drain first, at most `yield_max` seconds each."""
    yield_max: float = 1.0
    """Longest a provisioning or delivery step waits for the registration interface, so that
    provisioning still progresses under a sustained registration load."""
    delivery_timeout: float = 120.0
    """Seconds a delivery step (transfer, install) may take before the attempt counts as lost."""
    max_attempts: int = 5
    """Delivery attempts before a delivery fails for good."""
    retry_backoff: float = 2.0
    """Seconds before the first retry; doubles each attempt, at most 60 s."""
    http_host: str = "127.0.0.1"
    """Address the REST API (HTTP) binds."""
    http_port: int = 8080
    """REST API port; 0 picks a free one, -1 runs no REST API."""
    open_reads: bool = True
    """Leshan's read routes answer without a token while the REST API is bound to loopback;
    false asks for the token there too."""
    leshan_open: bool = False
    """Interop mode: every Leshan route (clients, security, bootstrap, events, object specs),
    writes included, answers without a token, so Leshan's tools and test suites run unmodified.
    Only with the REST API bound to loopback; the mlaas routes still need the token."""
    node_id: str = ""
    """This node's name in the service ('' : <host name>:<CoAP port>); nodes sharing one
    database (PostgreSQL) are one service."""
    node_heartbeat: float = 2.0
    """Seconds between this node's heartbeats in the database."""
    node_timeout: float = 10.0
    """A node whose last heartbeat is older than this is dead to the others."""

    @property
    def packages_dir(self) -> Path:
        """Compiled packages (<artifact id>.pkg), served at /fw/."""
        return self.data_dir / "packages"

    @property
    def package_host(self) -> str:
        host = self.advertised_host or self.coap_host
        return "127.0.0.1" if host in ("", "::", "0.0.0.0") else host

    @property
    def database_url(self) -> str:
        if not self.db:
            return f"sqlite+aiosqlite:///{self.data_dir / 'mlaas.db'}"
        if "://" in self.db:
            return self.db
        return f"sqlite+aiosqlite:///{Path(self.db).expanduser().resolve()}"

    def __post_init__(self) -> None:
        longest = self.longest_package_uri()
        if longest > MAX_PACKAGE_URI:
            raise ValueError(f"with advertised host {self.package_host!r} and CoAPs host "
                             f"{self.coaps_host!r} a package URI takes up to {longest} bytes, "
                             f"over the {MAX_PACKAGE_URI} of /5/0/1 (Zephyr's client reads past "
                             "them): use a shorter host name or address")  # fmt: skip

    def longest_package_uri(self) -> int:
        """Bytes of the longest /5/0/1 URI this configuration can produce (any port)."""
        coap = len(f"coap://{uri_host(self.package_host)}:65535/fw/")
        coaps = len(f"coaps://{uri_host(self.coaps_host)}:65535/fw/")
        return max(coap, coaps) + PACKAGE_NAME

    @classmethod
    def load(cls, toml_file: Path | None = None, **overrides: Any) -> ServerConfig:
        """Defaults < TOML file ([server] table) < MLAAS_<FIELD> environment < overrides."""
        values: dict[str, Any] = {}
        if toml_file is not None:
            values.update(tomllib.loads(toml_file.read_text()).get("server", {}))
        names = {f.name: f for f in fields(cls)}
        for name in names:
            env = os.environ.get(f"MLAAS_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls()
        typed: dict[str, Any] = {}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown setting {name!r}")
            kind = type(getattr(config, name))
            try:
                typed[name] = _typed(value, getattr(config, name))
            except (TypeError, ValueError):
                raise ValueError(
                    f"setting {name}={value!r} is not a valid {kind.__name__}"
                ) from None
        return replace(config, **typed)


def _typed(value: Any, default: Any) -> Any:
    if isinstance(default, Path):
        return Path(value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _BOOLEANS:
            raise ValueError(value)
        return _BOOLEANS[text]
    return type(default)(value)


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}  # fmt: skip
