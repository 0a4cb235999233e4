"""Devices (class, requested task, tags, runtimes), operator assignments, and rollouts with
their members."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.changes import changed_fields
from ..core.fleet import (
    DeviceChange,
    DeviceRecord,
    MemberChange,
    MemberState,
    Rollout,
    RolloutChange,
    RolloutMember,
    RolloutState,
)
from .tables import (
    AssignmentRow,
    DeviceRow,
    DeviceRuntimesRow,
    RolloutMemberRow,
    RolloutRow,
    apply_change,
    remove_row,
)


def _device(row: DeviceRow) -> DeviceRecord:
    return DeviceRecord(row.endpoint, row.device_class, row.task, tuple(row.tags or ()))


class SqlDevices:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, endpoint: str, change: DeviceChange) -> DeviceRecord:
        """Create or update what is known of a device."""
        row = await self.session.get(DeviceRow, endpoint)
        if row is None:
            row = DeviceRow(endpoint=endpoint, device_class=None, task=None, tags=[])
            self.session.add(row)
        for name, value in changed_fields(change).items():
            setattr(row, name, sorted(value) if name == "tags" else value)
        row.updated = time.time()
        await self.session.flush()
        return _device(row)

    async def get(self, endpoint: str) -> DeviceRecord | None:
        row = await self.session.get(DeviceRow, endpoint)
        return None if row is None else _device(row)

    async def all(self) -> list[DeviceRecord]:
        rows = await self.session.scalars(select(DeviceRow).order_by(DeviceRow.endpoint))
        return [_device(r) for r in rows]

    async def record_runtimes(self, endpoint: str, runtimes: Iterable[str]) -> None:
        """The ML runtimes the device reports (/32100/0/4), in its order."""
        row = await self.session.get(DeviceRuntimesRow, endpoint)
        if row is None:
            row = DeviceRuntimesRow(endpoint=endpoint)
            self.session.add(row)
        row.runtimes, row.updated = list(dict.fromkeys(runtimes)), time.time()
        await self.session.flush()

    async def runtimes(self, endpoint: str) -> tuple[str, ...] | None:
        """What the device last reported in /32100/0/4; None before it was read."""
        row = await self.session.get(DeviceRuntimesRow, endpoint)
        return None if row is None else tuple(row.runtimes)

    async def assign(self, scope: str, value: str, target: str) -> None:
        """The operator's choice of task or model for a device class or an endpoint."""
        await self.session.merge(AssignmentRow(scope=scope, value=value, target=target,
                                               created=time.time()))  # fmt: skip

    async def unassign(self, scope: str, value: str) -> bool:
        return await remove_row(self.session, AssignmentRow, (scope, value))

    async def assignments(self) -> dict[tuple[str, str], str]:
        rows = await self.session.scalars(select(AssignmentRow))
        return {(r.scope, r.value): r.target for r in rows}


def _rollout(row: RolloutRow) -> Rollout:
    return Rollout(row.id, row.name, row.target, MappingProxyType(dict(row.selector)),
                   tuple(row.waves), row.max_concurrent, row.failure_threshold,
                   RolloutState(row.state), row.reason, row.counted_from, row.created,
                   row.updated)  # fmt: skip


def _member(row: RolloutMemberRow) -> RolloutMember:
    return RolloutMember(row.rollout_id, row.endpoint, row.wave, MemberState(row.state),
                         row.reason, row.device_class, row.artifact_id, row.previous_artifact_id,
                         row.delivery_id, row.finished)  # fmt: skip


class SqlRollouts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, name: str, target: str, selector: Mapping[str, str], waves: list[int],
                  max_concurrent: int, failure_threshold: float) -> Rollout:  # fmt: skip
        now = time.time()
        row = RolloutRow(name=name, target=target, selector=dict(selector), waves=waves,
                         max_concurrent=max_concurrent, failure_threshold=failure_threshold,
                         state=RolloutState.RUNNING.value, reason=None, counted_from=now,
                         created=now, updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _rollout(row)

    async def get(self, rollout_id: int) -> Rollout | None:
        row = await self.session.get(RolloutRow, rollout_id)
        return None if row is None else _rollout(row)

    async def all(self, states: Iterable[RolloutState] | None = None) -> list[Rollout]:
        query = select(RolloutRow).order_by(RolloutRow.id)
        if states is not None:
            query = query.where(RolloutRow.state.in_([RolloutState(s).value for s in states]))
        return [_rollout(r) for r in await self.session.scalars(query)]

    async def update(self, rollout_id: int, change: RolloutChange) -> Rollout:
        row = await self.session.get(RolloutRow, rollout_id)
        if row is None:
            raise LookupError(f"no rollout {rollout_id}")
        apply_change(row, change)
        await self.session.flush()
        return _rollout(row)

    async def add_member(self, rollout_id: int, endpoint: str, wave: int,
                         state: MemberState = MemberState.PENDING,
                         reason: str | None = None) -> RolloutMember:  # fmt: skip
        now = time.time()
        state = MemberState(state)
        row = RolloutMemberRow(rollout_id=rollout_id, endpoint=endpoint, wave=wave,
                               state=state.value, reason=reason,
                               finished=None if state is MemberState.PENDING else now,
                               updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _member(row)

    async def members(self, rollout_id: int) -> list[RolloutMember]:
        rows = await self.session.scalars(
            select(RolloutMemberRow).where(RolloutMemberRow.rollout_id == rollout_id)
            .order_by(RolloutMemberRow.wave, RolloutMemberRow.endpoint))  # fmt: skip
        return [_member(r) for r in rows]

    async def update_member(self, rollout_id: int, endpoint: str,
                            change: MemberChange) -> RolloutMember:  # fmt: skip
        row = await self.session.get(RolloutMemberRow, (rollout_id, endpoint))
        if row is None:
            raise LookupError(f"{endpoint} is not in rollout {rollout_id}")
        apply_change(row, change)
        if isinstance(change.state, MemberState) and change.state.finished:
            row.finished = row.updated
        await self.session.flush()
        return _member(row)

    async def memberships(self, endpoint: str) -> list[tuple[Rollout, RolloutMember]]:
        """Every rollout the device is a member of, oldest first."""
        rows = await self.session.execute(
            select(RolloutRow, RolloutMemberRow)
            .join(RolloutMemberRow, RolloutMemberRow.rollout_id == RolloutRow.id)
            .where(RolloutMemberRow.endpoint == endpoint).order_by(RolloutRow.id))  # fmt: skip
        return [(_rollout(r), _member(m)) for r, m in rows]
