"""Leases: work one node drives at a time, taken over once its holder stops renewing."""

from __future__ import annotations

import asyncio

from lwm2m_mlaas.store import Store


async def acquire(store: Store, holder: str, now: float, name: str = "rollouts") -> bool:
    async with store.transaction() as tx:
        return await tx.leases.acquire(name, holder, now=now, until=now + 10)


async def test_one_holder_at_a_time_until_it_expires(store: Store) -> None:
    assert await acquire(store, "a", 100)
    assert not await acquire(store, "b", 105)
    assert await acquire(store, "a", 108)  # renewed: now held until 118
    assert not await acquire(store, "b", 115)
    assert await acquire(store, "b", 119)  # a stopped renewing: taken over
    assert not await acquire(store, "a", 120)
    assert await acquire(store, "a", 120, name="deliveries/dev-1")  # another lease
    async with store.transaction() as tx:
        assert await tx.leases.holders(120) == {"rollouts": "b", "deliveries/dev-1": "a"}
        assert await tx.leases.holders(200) == {}


async def test_a_released_lease_is_free_at_once(store: Store) -> None:
    assert await acquire(store, "a", 100)
    async with store.transaction() as tx:
        await tx.leases.release("rollouts", "b")  # not b's: stays
    assert not await acquire(store, "b", 101)
    async with store.transaction() as tx:
        await tx.leases.release("rollouts", "a")
    assert await acquire(store, "b", 101)


async def test_a_lease_being_decided_counts_as_held(postgres_url: str) -> None:
    """Two nodes at once (PostgreSQL): while one transaction holds the row, another skips it
    (SKIP LOCKED) instead of waiting, and does not get the lease."""
    store = await Store.open(postgres_url)
    try:
        assert await acquire(store, "a", 100)
        first_in = asyncio.Event()
        release = asyncio.Event()

        async def slow_taker() -> bool:
            async with store.transaction() as tx:
                taken = await tx.leases.acquire("rollouts", "b", now=200, until=210)
                first_in.set()
                await release.wait()
                return taken

        slow = asyncio.create_task(slow_taker())
        await first_in.wait()
        async with asyncio.timeout(5):  # skipped, not blocked
            assert not await acquire(store, "c", 200)
        release.set()
        assert await slow
        async with store.transaction() as tx:
            assert await tx.leases.holders(200) == {"rollouts": "b"}
    finally:
        await store.close()
