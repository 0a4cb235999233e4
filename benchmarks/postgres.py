"""A PostgreSQL server of Debian's package, started in a temporary folder on a free loopback
port (initdb, pg_ctl), with a fresh database on demand: the tests' (tests/helpers/postgres.py
re-exports it) and benchmarks/cluster.py's. PostgreSQL refuses to run as root, so as root the
cluster belongs to the `postgres` user the package creates."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "mlaas"


def bindir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))  # fmt: skip
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs it as root "
                           "(apt-get install postgresql)")  # fmt: skip
    return found[-1].parent


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, folder: Path, *, fsync: bool = False) -> None:
        self.folder = folder
        self.port = free_tcp_port()
        self.bin = bindir()
        self.fsync = fsync
        """Commits wait for the disk, as in production. The tests leave it off: their
        databases need not survive a power cut."""
        self._names = itertools.count(1)

    @classmethod
    @contextmanager
    def temporary(cls, *, fsync: bool = False) -> Iterator[PostgresServer]:
        """Started in a new folder under the system's temporary directory (pytest's own is
        private to root, and the server runs as `postgres`), stopped and removed after."""
        folder = Path(tempfile.mkdtemp(prefix="mlaas-postgres-"))
        server = cls(folder, fsync=fsync)
        try:
            server.start()
            yield server
            server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run(self, *args: str | Path) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        self._run(self.bin / "initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.folder / "log", "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  f"-c max_connections=200{'' if self.fsync else ' -F'}", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "-D", self.folder / "data", "-m", "immediate", "stop")

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{next(self._names)}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d",
                        "postgres", "-q", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{name}"
