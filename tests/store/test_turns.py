"""The database connection is handed out urgent-first: the registration interface's group commit
waits for at most the one transaction in flight, never for a queue of other work."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lwm2m_mlaas.store import Store
from lwm2m_mlaas.store.store import Turns


async def test_an_urgent_transaction_goes_before_those_waiting(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    order: list[str] = []
    release = asyncio.Event()

    async def transaction(name: str, urgent: bool = False, hold: bool = False) -> None:
        async with store.transaction(urgent=urgent) as tx:
            order.append(name)
            await tx.registrations.all()  # a real statement on the one connection
            if hold:
                await release.wait()

    try:
        holding = asyncio.create_task(transaction("in flight", hold=True))
        await asyncio.sleep(0.05)
        others = [asyncio.create_task(transaction(f"other {n}")) for n in range(3)]
        await asyncio.sleep(0.05)
        urgent = asyncio.create_task(transaction("registrations", urgent=True))
        await asyncio.sleep(0.05)
        assert order == ["in flight"] and store.turns.waiting == 4
        release.set()
        await asyncio.gather(holding, urgent, *others)
        assert order == ["in flight", "registrations", "other 0", "other 1", "other 2"]
        assert store.turns.free == 1 and store.turns.waiting == 0
    finally:
        await store.close()


async def test_a_waiter_cancelled_passes_its_turn_on() -> None:
    turns = Turns(1)
    await turns.take(urgent=False)
    cancelled = asyncio.create_task(turns.take(urgent=True))
    after = asyncio.create_task(turns.take(urgent=False))
    await asyncio.sleep(0)
    turns.give()  # granted to the first waiter...
    cancelled.cancel()  # ...which is cancelled before it runs: the next one gets the turn
    await asyncio.wait_for(after, 1)
    assert turns.free == 0 and turns.waiting == 0
    turns.give()
    assert turns.free == 1
