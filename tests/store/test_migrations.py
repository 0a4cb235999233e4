"""Schema migrations on start: a database of the first release (with or without Alembic's
version table) is upgraded in place, keeping its rows; the migrations end at tables.py's schema;
nodes starting together migrate once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, select, text

from lwm2m_mlaas.core.cluster import Node
from lwm2m_mlaas.store import Store
from lwm2m_mlaas.store.database import alembic_config, create_engine
from lwm2m_mlaas.store.tables import Base

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

# A row in each table the migrations change, and rows referring to them, as the first release
# stored them (SQLite rebuilds artifacts: the compile's artifact_id must survive it)
FIRST_RELEASE_ROWS: dict[str, dict[str, Any]] = {
    "registrations": {
        "id": "r1", "endpoint": "dev-1", "host": "127.0.0.1", "port": 56830, "lifetime": 300,
        "lwm2m_version": "1.1", "binding": "UQ", "queue_mode": True, "sms": None,
        "secure": False, "object_links": "</>;ct=112,</1/0>,</3/0>,</5/0>",
        "additional_attributes": {"Q": ""}, "registration_date": 1000.0,
        "last_update": 1010.0, "expires_at": 1310.0,
    },
    "observations": {"id": 1, "registration_id": "r1", "path": "/3/0/13",
                     "content_format": 112, "token": "0a1b", "created": 1001.0},
    "deliveries": {
        "id": 1, "endpoint": "dev-1", "artifact_id": "a" * 64, "model": "sine-s",
        "device_class": "mps2-an386", "mode": "push", "state": "transferring", "attempts": 1,
        "next_attempt": 1020.0, "result": None, "reason": None, "created": 1005.0,
        "updated": 1006.0,
    },
    "nodes": {"id": "a", "coap_uri": "coap://10.0.0.1:5683", "coaps_uri": "",
              "api_url": "http://10.0.0.1:8080", "started": 900.0, "heartbeat": 1009.0},
    "artifacts": {
        "id": "a" * 64, "model": "sine-s", "model_version": "1", "task": "sine",
        "device_class": "mps2-an386", "backend": "tflm", "compiler_version": "0.4.0",
        "arena_bytes": 2048, "model_bytes": 3000, "package_bytes": 3400,
        "quality": {"mae": 0.05}, "path": "artifacts/aaaa.pkg", "created": 990.0,
    },
    "compiles": {"key": "k" * 64, "task": "sine", "device_class": "mps2-an386",
                 "compiler_version": "0.4.0", "artifact_id": "a" * 64, "reason": None,
                 "seconds": 12.5, "created": 991.0},
}  # fmt: skip
ADDED: dict[str, dict[str, Any]] = {"registrations": {"node": ""}, "deliveries": {"node": None},
                                    "nodes": {"api_token": ""}, "observations": {"paths": ""}}


async def on(url: str, work: Callable[[Connection], Any]) -> Any:
    """Run `work` on a connection of its own, in one transaction."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def first_release(versioned: bool) -> Callable[[Connection], None]:
    """A database of the first release holding FIRST_RELEASE_ROWS; `versioned`: migrated to it
    (0001), or made by its create_all before there were migrations (no version table)."""

    def make(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0001")
        if not versioned:
            connection.execute(text("DROP TABLE alembic_version"))
        tables = MetaData()
        tables.reflect(connection)
        for name, row in FIRST_RELEASE_ROWS.items():
            connection.execute(tables.tables[name].insert(), [row])

    return make


def rows(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    tables = MetaData()
    tables.reflect(connection, only=list(FIRST_RELEASE_ROWS))
    return {name: [dict(r) for r in connection.execute(select(table)).mappings()]
            for name, table in tables.tables.items()}  # fmt: skip


def version(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


def foreign_keys(connection: Connection) -> Any:
    return connection.exec_driver_sql("PRAGMA foreign_keys").scalar()


@pytest.mark.parametrize("versioned", [True, False], ids=["at-0001", "before-migrations"])
async def test_a_first_release_database_is_upgraded_keeping_its_rows(
    database_url: str, versioned: bool
) -> None:
    await on(database_url, first_release(versioned))
    store = await Store.open(database_url)
    try:
        async with store.transaction() as tx:
            registration = await tx.registrations.by_endpoint("dev-1")
            assert registration is not None and registration.queue_mode
            assert await tx.registrations.nodes_of(["dev-1"]) == {"dev-1": ""}
            assert [o.token for o in await tx.observations.all("r1")] == ["0a1b"]
            delivery = await tx.deliveries.get(1)
            assert delivery is not None and delivery.model == "sine-s"
            node = Node("a", "coap://10.0.0.1:5683", "", "http://10.0.0.1:8080", 900.0, 1009.0)
            assert await tx.nodes.live(0) == [node]
    finally:
        await store.close()
    assert await on(database_url, rows) == {
        name: [{**row, **ADDED.get(name, {})}] for name, row in FIRST_RELEASE_ROWS.items()}
    assert await on(database_url, version) == (HEAD,)
    if database_url.startswith("sqlite"):  # off while migrating, on again after
        assert await on(database_url, foreign_keys) == 1


async def test_a_new_database_is_created_at_head_and_opens_again(database_url: str) -> None:
    for _ in range(2):
        store = await Store.open(database_url)
        async with store.transaction() as tx:
            assert await tx.registrations.all() == []
        await store.close()
    assert await on(database_url, version) == (HEAD,)


def migrated_schema_differences(connection: Connection) -> list[Any]:
    command.upgrade(alembic_config(connection), "head")
    context = MigrationContext.configure(connection, opts={"compare_server_default": True})
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


async def test_the_migrations_make_the_schema_of_tables_py(database_url: str) -> None:
    """A change to tables.py without its migration fails here."""
    assert await on(database_url, migrated_schema_differences) == []


@pytest.mark.parametrize("made", ["new", "first-release"])
async def test_nodes_starting_together_on_one_database_all_come_up(
    postgres_url: str, made: str
) -> None:
    """One migrates (creates or upgrades), the others wait for it, then find nothing to do."""
    if made == "first-release":
        await on(postgres_url, first_release(versioned=True))
    stores = await asyncio.gather(*(Store.open(postgres_url) for _ in range(4)))
    try:
        for store in stores:
            async with store.transaction() as tx:
                assert len(await tx.registrations.all()) == (made == "first-release")
    finally:
        await asyncio.gather(*(store.close() for store in stores))
    assert await on(postgres_url, version) == (HEAD,)
