"""RegistrationService on a real SQLite file: coalesced writes and what memory and disk agree on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from lwm2m_mlaas.core.registration import RegistrationParams, parse_register, parse_update
from lwm2m_mlaas.server.events import EventBus
from lwm2m_mlaas.server.registration import RegistrationService
from lwm2m_mlaas.store import Store
from lwm2m_mlaas.store.store import SqlTransaction

LINKS = b"</1/0>,</3/0>"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'reg.db'}")
    yield opened
    await opened.close()


async def on_disk(store: Store) -> dict[str, tuple[str, int]]:
    async with store.transaction() as tx:
        return {r.endpoint: (r.id, r.lifetime) for r in await tx.registrations.all()}


def register(endpoint: str, lifetime: int = 60) -> RegistrationParams:
    return parse_register([f"ep={endpoint}", f"lt={lifetime}"], LINKS, 40)


async def test_concurrent_changes_share_writes_and_land_on_disk(store: Store) -> None:
    service = RegistrationService(store, EventBus())
    first = await asyncio.gather(
        *(service.register(register(f"d{n}"), "::1", n) for n in range(50))
    )
    ids = {reg.endpoint: reg.id for reg, _ in first}
    await asyncio.gather(
        *(
            service.update(ids[f"d{n}"], parse_update(["lt=90"], b""), "::1", n)
            for n in range(0, 50, 2)
        ),
        *(service.deregister(ids[f"d{n}"]) for n in range(1, 50, 4)),
        service.register(register("d3", 30), "::1", 999),  # replaces d3
    )
    expected = {r.endpoint: (r.id, r.lifetime) for r in service.all()}
    assert await on_disk(store) == expected
    assert expected["d0"][1] == 90 and "d1" not in expected
    assert expected["d3"][1] == 30 and expected["d3"][0] != ids["d3"]
    await service.close()


@pytest.mark.parametrize("deregister", [False, True])
async def test_changes_to_a_registration_not_yet_written(store: Store, deregister: bool) -> None:
    service = RegistrationService(store, EventBus())
    pending = [asyncio.ensure_future(service.register(register("x"), "::1", 1))]
    await asyncio.sleep(0)  # in memory; its write not yet done
    reg = service.by_endpoint("x")
    assert reg is not None
    pending.append(
        asyncio.ensure_future(service.update(reg.id, parse_update(["lt=5"], b""), "::1", 2))
    )
    if deregister:
        pending.append(asyncio.ensure_future(service.deregister(reg.id)))
    await asyncio.gather(*pending)
    assert await on_disk(store) == ({} if deregister else {"x": (reg.id, 5)})
    await service.close()


async def test_a_failed_write_is_reported_and_memory_follows_the_disk(store: Store) -> None:
    service = RegistrationService(store, EventBus())
    kept, _ = await service.register(register("kept"), "::1", 1)
    async with store.transaction() as tx:  # the one pooled SQLite connection refuses writes
        assert isinstance(tx, SqlTransaction)
        await tx.session.execute(text("PRAGMA query_only = ON"))
    with pytest.raises(OperationalError, match=r"readonly database"):
        await service.register(register("lost"), "::1", 2)
    async with store.transaction() as tx:
        assert isinstance(tx, SqlTransaction)
        await tx.session.execute(text("PRAGMA query_only = OFF"))
    await asyncio.sleep(0.1)  # the reload from the database
    assert [r.endpoint for r in service.all()] == ["kept"]
    assert await on_disk(store) == {"kept": (kept.id, 60)}
    await service.close()
