"""Package deliveries, one row each, in their state machine's current state."""

from __future__ import annotations

import time
from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.delivery import (
    ACTIVE_DELIVERY,
    Delivery,
    DeliveryChange,
    DeliveryMode,
    DeliveryState,
)
from .tables import DeliveryRow, RegistrationRow, apply_change


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

    async def active_of(self, endpoints: Collection[str]) -> list[Delivery]:
        """The active deliveries to any of `endpoints`."""
        found: list[Delivery] = []
        names = list(endpoints)
        for start in range(0, len(names), 500):
            rows = await self.session.scalars(select(DeliveryRow).where(
                DeliveryRow.endpoint.in_(names[start:start + 500]),
                DeliveryRow.state.in_([s.value for s in ACTIVE_DELIVERY])))  # fmt: skip
            found.extend(_delivery(r) for r in rows)
        return found

    async def claim(self, delivery_id: int, node: str, live: Collection[str]) -> Delivery | None:
        """Count an attempt by `node` and mark the delivery as run by it, unless a live node
        runs it now (or is deciding to: the row is locked), or its device is registered on
        another node. Returns the delivery, or None when it is not `node`'s to run; an
        inactive one (cancelled or replaced meanwhile) is returned as it is."""
        row = await self.session.scalar(select(DeliveryRow).where(DeliveryRow.id == delivery_id)
                                        .with_for_update(skip_locked=True))  # fmt: skip
        if row is None:
            return None
        if DeliveryState(row.state) not in ACTIVE_DELIVERY:
            return _delivery(row)
        if row.node not in (None, node) and row.node in live:
            return None
        registered = await self.session.scalar(
            select(RegistrationRow.node).where(RegistrationRow.endpoint == row.endpoint))
        if registered != node:
            return None
        row.node, row.attempts, row.updated = node, row.attempts + 1, time.time()
        await self.session.flush()
        return _delivery(row)

    async def release(self, delivery_id: int, node: str) -> None:
        """`node` runs no attempt of the delivery any more."""
        await self.session.execute(
            update(DeliveryRow).where(DeliveryRow.id == delivery_id, DeliveryRow.node == node)
            .values(node=None))  # fmt: skip

    async def changed_since(self, since: float) -> list[Delivery]:
        """Deliveries written at or after `since`, oldest first."""
        rows = await self.session.scalars(
            select(DeliveryRow).where(DeliveryRow.updated >= since).order_by(DeliveryRow.updated))
        return [_delivery(r) for r in rows]
