"""Group commit: writes submitted while a transaction is in flight share the next one, so a
burst of registrations costs one commit instead of one each. Each caller still returns only
after its write has committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .ports import Transaction
from .store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
Write = Callable[[Transaction], Awaitable[Any]]


class WriteBatcher:
    def __init__(self, store: Store, max_batch: int = 256, *, urgent: bool = False) -> None:
        self.store = store
        self.max_batch = max_batch
        self.urgent = urgent
        """Commit ahead of other transactions waiting for a connection (Store.transaction)."""
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, write: Callable[[Transaction], Awaitable[T]]) -> T:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="group commit")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((write, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = []
                async with self.store.transaction(urgent=self.urgent) as tx:
                    for write, _ in batch:
                        results.append(await write(tx))
            except Exception:
                # one bad write must not sink the others: redo each in its own transaction
                for write, future in batch:
                    await self._alone(write, future)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _alone(self, write: Write, future: asyncio.Future[Any]) -> None:
        try:
            async with self.store.transaction(urgent=self.urgent) as tx:
                result = await write(tx)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)

    async def close(self, timeout: float = 5.0) -> None:
        """Finish the writes already submitted (for at most `timeout` seconds), then stop."""
        if self._worker is not None and not self._worker.done() and not self._queue.empty():

            async def nothing(_tx: Transaction) -> None:
                return None

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.submit(nothing), timeout)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            future.cancel()
