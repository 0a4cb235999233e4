"""Engine, session factory and schema migrations; SQLite gets WAL, a busy timeout and foreign
keys."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .tables import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_RELEASE = "0001"
"""The revision of a database made before migrations."""
MIGRATION_LOCK = 0x6D6C616173
"""PostgreSQL advisory lock held while a node migrates ('mlaas' in ASCII)."""


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url)
    # SQLite has one writer at a time: a single pooled connection serialises transactions in
    # the event loop, where several connections would spin in SQLite's busy handler
    engine = create_async_engine(url, pool_size=1, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the migrations in the package, run on
    `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _revisions() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema (see `migrate`)."""
    async with engine.connect() as connection:
        await connection.run_sync(migrate)


def migrate(connection: Connection) -> None:
    """An empty database gets the tables and is stamped at head; one made before migrations
    counts as the first release (0001); the revisions a database lacks then run."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # batch mode rebuilds a table by dropping it, which with foreign keys on would delete
        # the rows referring to it (observations of registrations, ON DELETE CASCADE)
        _pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            _upgrade(connection)
    finally:
        if sqlite:
            _pragma(connection, "foreign_keys=ON")


def _pragma(connection: Connection, pragma: str) -> None:
    connection.exec_driver_sql(f"PRAGMA {pragma}")  # outside a transaction, or it is ignored
    connection.commit()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # nodes starting together: one migrates, the others wait and then find nothing to do
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    revisions = _revisions()
    context = MigrationContext.configure(connection)
    tables = inspect(connection).get_table_names()
    if not tables:
        Base.metadata.create_all(connection)
        context.stamp(revisions, "head")
        return
    if "alembic_version" not in tables:
        context.stamp(revisions, FIRST_RELEASE)
    current = context.get_current_heads()
    if set(current) == set(revisions.get_heads()):
        return
    log.info("Migrating the database schema from revision %s to %s", ", ".join(current),
             revisions.get_current_head())  # fmt: skip
    command.upgrade(alembic_config(connection), "head")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
