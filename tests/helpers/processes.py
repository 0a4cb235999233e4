"""Programs the tests start as separate processes: `mlaas serve` (killed and started again on
the same database by the restart tests), the `mlaas` command as a user runs it, and libcoap's
command-line clients."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiocoap
import aiohttp
from aiocoap.numbers.codes import Code

from tests.helpers.net import coap_request


class ServerProcess:
    """`mlaas serve` on 127.0.0.1:`port` with its database at `db` (the data dir is its
    folder), or at `url` when given (PostgreSQL); the log goes to `db` with the suffix .log."""

    def __init__(self, db: Path, port: int, url: str | None = None) -> None:
        self.db, self.port = db, port
        self.url = url or f"sqlite+aiosqlite:///{db}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **settings: str) -> None:
        """Start it; `settings` are MLAAS_* environment variables."""
        env = {**os.environ, "MLAAS_LIFETIME_GRACE": "1", "MLAAS_EXPIRY_INTERVAL": "0.2",
               "MLAAS_DATA_DIR": str(self.db.parent), "MLAAS_HTTP_PORT": "0",
               "MLAAS_COAPS_PORT": "0", **settings}  # fmt: skip
        with open(self.db.with_suffix(".log"), "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lwm2m_mlaas.cli.main", "serve",
                 "--coap-host", "127.0.0.1", "--coap-port", str(self.port),
                 "--db", self.url, "--log-level", "WARNING"],
                env=env, stdout=log, stderr=log,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


async def until_up(client: aiocoap.Context, port: int) -> None:
    """Until the CoAP server on 127.0.0.1:`port` answers GET /.well-known/core (30 s)."""
    async with asyncio.timeout(30):
        while True:
            try:
                async with asyncio.timeout(0.5):
                    answer = await coap_request(client, port, Code.GET, "/.well-known/core")
                if answer.code == Code.CONTENT:
                    return
            except (TimeoutError, aiocoap.error.Error):
                await asyncio.sleep(0.2)


async def until_http(url: str) -> None:
    """Until the REST API at `url` answers GET /api/clients with 200 (60 s)."""
    async with asyncio.timeout(60), aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/api/clients") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


async def run_mlaas(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`python -m lwm2m_mlaas.cli.main ARGS` as a process: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_mlaas.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def libcoap_client(client: str, *args: str, ok: bool = True) -> tuple[str, str]:
    """libcoap's `client` (coap-client-notls, coap-client-openssl) with a 5 s wait (-B 5):
    stdout and stderr; with ok, it must exit 0."""
    process = await asyncio.create_subprocess_exec(
        client, "-B", "5", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    if ok:
        assert process.returncode == 0, stderr.decode()
    return stdout.decode(), stderr.decode()
