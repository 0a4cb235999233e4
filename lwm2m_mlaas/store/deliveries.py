"""Package deliveries, one row each, in their state machine's current state."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.delivery import (
    ACTIVE_DELIVERY,
    Delivery,
    DeliveryChange,
    DeliveryMode,
    DeliveryState,
)
from .tables import DeliveryRow, apply_change


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        row.id, row.endpoint, row.artifact_id, row.model, row.device_class,
        DeliveryMode(row.mode), DeliveryState(row.state), row.attempts, row.next_attempt,
        row.result, row.reason, row.created, row.updated,
    )  # fmt: skip


class SqlDeliveries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, endpoint: str, artifact_id: str, model: str, device_class: str,
                  mode: DeliveryMode) -> Delivery:  # fmt: skip
        now = time.time()
        row = DeliveryRow(endpoint=endpoint, artifact_id=artifact_id, model=model,
                          device_class=device_class, mode=DeliveryMode(mode).value,
                          state=DeliveryState.PENDING.value, attempts=0, next_attempt=now,
                          created=now, updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _delivery(row)

    async def update(self, delivery_id: int, change: DeliveryChange) -> Delivery:
        row = await self.session.get(DeliveryRow, delivery_id)
        if row is None:
            raise LookupError(f"no delivery {delivery_id}")
        apply_change(row, change)
        await self.session.flush()
        return _delivery(row)

    async def get(self, delivery_id: int) -> Delivery | None:
        row = await self.session.get(DeliveryRow, delivery_id)
        return None if row is None else _delivery(row)

    async def all(self, endpoint: str | None = None, *, active: bool = False) -> list[Delivery]:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if endpoint is not None:
            query = query.where(DeliveryRow.endpoint == endpoint)
        if active:
            query = query.where(DeliveryRow.state.in_([s.value for s in ACTIVE_DELIVERY]))
        return [_delivery(r) for r in await self.session.scalars(query)]
