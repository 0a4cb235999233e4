"""The database: `async with store.transaction() as tx:` is one session and one commit, with
every aggregate's store over that session."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from .artifacts import SqlArtifacts
from .database import create_engine, create_schema, session_factory
from .deliveries import SqlDeliveries
from .fleet import SqlDevices, SqlRollouts
from .keys import SqlKeys, SqlTrust
from .nodes import SqlLeases, SqlNodes
from .ports import Transaction
from .registrations import SqlObservations, SqlRegistrations, SqlRequestQueue
from .security import SqlBootstrap, SqlOscore, SqlSecurity
from .sent import SqlSentValues


class SqlTransaction:
    """Every store over one AsyncSession (implements ports.Transaction)."""

    __slots__ = (
        "artifacts",
        "bootstrap",
        "deliveries",
        "devices",
        "keys",
        "leases",
        "nodes",
        "observations",
        "oscore",
        "queue",
        "registrations",
        "rollouts",
        "security",
        "sent",
        "session",
        "trust",
    )  # fmt: skip

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.registrations = SqlRegistrations(session)
        self.observations = SqlObservations(session)
        self.queue = SqlRequestQueue(session)
        self.sent = SqlSentValues(session)
        self.security = SqlSecurity(session)
        self.oscore = SqlOscore(session)
        self.bootstrap = SqlBootstrap(session)
        self.artifacts = SqlArtifacts(session)
        self.deliveries = SqlDeliveries(session)
        self.devices = SqlDevices(session)
        self.rollouts = SqlRollouts(session)
        self.keys = SqlKeys(session)
        self.trust = SqlTrust(session)
        self.nodes = SqlNodes(session)
        self.leases = SqlLeases(session)


class Turns:
    """Who gets a database connection next: urgent callers (the registration interface's group
    commit) go before every other waiter, so a registration waits for at most the one
    transaction in flight, never for a queue of provisioning work."""

    def __init__(self, connections: int) -> None:
        self.free = connections
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._other: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._other)

    async def take(self, urgent: bool) -> None:
        if self.free > 0 and not self._urgent and (urgent or not self._other):
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._other).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # granted and cancelled in the same step: pass the turn on
            raise

    def give(self) -> None:
        for queue in (self._urgent, self._other):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1


class Store:
    """A SQLAlchemy async engine (SQLite by default) and the transactions over it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.turns = Turns(engine.pool.size() if isinstance(engine.pool, QueuePool) else 1)
        self._started = False
        self._listening: AsyncConnection | None = None
        """The connection PostgreSQL notifications arrive on (`listen`)."""

    @classmethod
    def at(cls, url: str) -> Store:
        """A store over the database at `url`; `start()` creates the schema."""
        return cls(create_engine(url))

    @classmethod
    async def open(cls, url: str) -> Store:
        store = cls.at(url)
        await store.start()
        return store

    async def start(self) -> None:
        """Create or migrate the schema (database.migrate)."""
        if not self._started:
            await create_schema(self.engine)
            self._started = True

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Transaction]:
        """One session, one commit. `urgent` (the registration path) is served before every
        other transaction waiting for a connection."""
        await self.turns.take(urgent)
        try:
            async with self._sessions() as session, session.begin():
                yield SqlTransaction(session)
        finally:
            self.turns.give()

    @property
    def shared(self) -> bool:
        """Other processes may use the database at once (PostgreSQL, not SQLite)."""
        return self.engine.dialect.name == "postgresql"

    async def notify(self, channel: str, payload: str) -> None:
        """Tell every process listening on `channel` (PostgreSQL's NOTIFY; nothing to tell
        on SQLite, which one process uses)."""
        if self.shared:
            async with self.engine.begin() as connection:
                await connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                                         {"channel": channel, "payload": payload})  # fmt: skip

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` in the event loop for every notification on `channel`,
        this process's own included (PostgreSQL's LISTEN)."""
        if not self.shared:
            return
        if self._listening is None:
            self._listening = await self.engine.connect()
        raw = (await self._listening.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.add_listener(channel, lambda *args: callback(args[-1]))

    async def close(self) -> None:
        if self._listening is not None:
            await self._listening.close()
            self._listening = None
        await self.engine.dispose()
        await _end_stranded_closes()


async def _end_stranded_closes(grace: float = 1.0) -> None:
    """A task cancelled twice inside a transaction makes SQLAlchemy close its connection in a
    shielded task while also stopping aiosqlite's worker thread; that task can then wait
    forever on the stopped thread, and a loop shutting down would wait on it. End such tasks."""
    stranded = [task for task in asyncio.all_tasks() if getattr(
        task.get_coro(), "__qualname__", "").endswith("_terminate_graceful_close")]  # fmt: skip
    if not stranded:
        return
    _done, pending = await asyncio.wait(stranded, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
