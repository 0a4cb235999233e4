"""Every store test runs on both supported databases: a SQLite file and a PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lwm2m_mlaas.store import Store
from tests.helpers.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'mlaas.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """A new database on the PostgreSQL server, for what only a server with concurrent
    connections shows."""
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()
