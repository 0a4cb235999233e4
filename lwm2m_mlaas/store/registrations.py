"""Registrations, their observations and the queue of requests for sleeping devices."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.linkformat import format_link_format, registered_links
from ..core.paths import Lwm2mPath
from ..core.registration import Registration
from ..core.requests import DownlinkRequest, QueuedRequest, StoredObservation
from .tables import ObservationRow, QueuedRequestRow, RegistrationRow

# Core statements on the hot paths (the ORM's bulk machinery costs more than the SQL)
_REGISTRATIONS: Table = RegistrationRow.__table__  # type: ignore[assignment]


def _columns(reg: Registration, node: str | None) -> dict[str, Any]:
    """The row's columns; `node` left out when None (an Update does not move a registration)."""
    return {
        **({} if node is None else {"node": node}),
        "id": reg.id,
        "endpoint": reg.endpoint,
        "host": reg.host,
        "port": reg.port,
        "lifetime": reg.lifetime,
        "lwm2m_version": reg.lwm2m_version,
        "binding": reg.binding,
        "queue_mode": reg.queue_mode,
        "sms": reg.sms,
        "secure": reg.secure,
        "object_links": format_link_format(reg.object_links),
        "additional_attributes": dict(reg.additional_attributes),
        "registration_date": reg.registration_date,
        "last_update": reg.last_update,
        "expires_at": reg.expires_at,
    }


def _registration(row: Any) -> Registration:
    """A registration from its ORM row or a Core result row (same column names)."""
    return Registration(
        id=row.id,
        endpoint=row.endpoint,
        host=row.host,
        port=row.port,
        lifetime=row.lifetime,
        lwm2m_version=row.lwm2m_version,
        binding=row.binding,
        queue_mode=row.queue_mode,
        sms=row.sms,
        secure=row.secure,
        object_links=registered_links(row.object_links),
        additional_attributes=row.additional_attributes or {},
        registration_date=row.registration_date,
        last_update=row.last_update,
    )


class SqlRegistrations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, reg: Registration, *, node: str = "") -> Registration | None:
        """Store `reg`, replacing (and returning) an earlier registration of the same endpoint."""
        old = await self.by_endpoint(reg.endpoint)
        await self.insert(reg, replacing=old, node=node)
        return old

    async def insert(self, reg: Registration, *, replacing: Registration | None,
                     node: str = "") -> None:  # fmt: skip
        """Insert `reg`; `replacing` is the endpoint's earlier registration, if any."""
        if replacing is not None:
            await self.session.execute(
                delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id == replacing.id)
            )
        await self.session.execute(insert(_REGISTRATIONS), [_columns(reg, node)])

    async def save(self, reg: Registration) -> None:
        await self.apply(updates=[reg])

    async def apply(
        self,
        *,
        deletes: Iterable[str] = (),
        inserts: Iterable[Registration] = (),
        updates: Iterable[Registration] = (),
        displaced: Iterable[str] = (),
        node: str = "",
    ) -> set[str]:
        """Many registration changes in three statements: deletes, then inserts, then updates,
        all made on `node`; `displaced` endpoints lose their stored registration (made on
        another node) before the inserts, its observations passing to the new one. Observations
        of deleted registrations go with them (ON DELETE CASCADE). Returns the displaced
        endpoints that had a stored registration."""
        if gone := [{"reg_id": i} for i in deletes]:
            await self.session.execute(
                delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id == bindparam("reg_id")), gone
            )
        new = [_columns(r, node) for r in inserts]
        observed: list[dict[str, Any]] = []
        moved: set[str] = set()
        if displaced:
            moved, observed = await self._displace(set(displaced),
                                                   {c["endpoint"]: c["id"] for c in new})
        if new:
            await self.session.execute(insert(_REGISTRATIONS), new)
        if observed:
            await self.session.execute(insert(ObservationRow), observed)
        if changed := [{"reg_id": r.id, **_columns(r, None)} for r in updates]:
            await self.session.execute(
                update(_REGISTRATIONS).where(_REGISTRATIONS.c.id == bindparam("reg_id")), changed
            )
        return moved

    async def _displace(self, endpoints: set[str], new_ids: dict[str, str]
                        ) -> tuple[set[str], list[dict[str, Any]]]:  # fmt: skip
        """Delete the endpoints' stored registrations; returns the endpoints that had one, and
        their observations as rows for the new registrations (`new_ids` by endpoint), to insert
        after them."""
        old = dict((await self.session.execute(
            select(_REGISTRATIONS.c.id, _REGISTRATIONS.c.endpoint)
            .where(_REGISTRATIONS.c.endpoint.in_(endpoints)))).all())  # fmt: skip
        if not old:
            return set(), []
        observed = await self.session.scalars(
            select(ObservationRow).where(ObservationRow.registration_id.in_(old)))
        moved = [{"registration_id": new_ids[old[o.registration_id]], "path": o.path,
                  "content_format": o.content_format, "token": o.token, "created": o.created,
                  "paths": o.paths}
                 for o in observed if old[o.registration_id] in new_ids]  # fmt: skip
        await self.session.execute(delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id.in_(old)))
        return set(old.values()), moved

    async def get(self, registration_id: str) -> Registration | None:
        row = await self.session.get(RegistrationRow, registration_id)
        return None if row is None else _registration(row)

    async def by_endpoint(self, endpoint: str) -> Registration | None:
        row = await self.session.scalar(
            select(RegistrationRow).where(RegistrationRow.endpoint == endpoint)
        )
        return None if row is None else _registration(row)

    async def all(self, nodes: Collection[str] | None = None) -> list[Registration]:
        """Every registration, or those made on `nodes`."""
        query = select(_REGISTRATIONS).order_by(_REGISTRATIONS.c.endpoint)
        if nodes is not None:
            query = query.where(_REGISTRATIONS.c.node.in_(nodes))
        rows = await self.session.execute(query)  # (Core rows: no ORM objects on a restart)
        return [_registration(r) for r in rows]

    async def adopt(self, node: str, live: Collection[str]) -> int:
        """Make the registrations of nodes not in `live` (dead, or '' from before the service
        had nodes) `node`'s; returns how many."""
        moved = await self.session.execute(
            update(_REGISTRATIONS).where(_REGISTRATIONS.c.node.not_in({*live, node}))
            .values(node=node))  # fmt: skip
        return int(moved.rowcount)  # type: ignore[attr-defined]

    async def remove_many(self, registration_ids: Collection[str]) -> set[str]:
        """Delete the registrations; returns the ids that were still there."""
        gone: set[str] = set()
        ids = list(registration_ids)
        for start in range(0, len(ids), 500):
            rows = await self.session.execute(
                delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id.in_(ids[start:start + 500]))
                .returning(_REGISTRATIONS.c.id))  # fmt: skip
            gone.update(rows.scalars())
        return gone

    async def nodes_of(self, endpoints: Collection[str]) -> dict[str, str]:
        """The node each of `endpoints` that is registered registered on."""
        rows = await self.session.execute(
            select(_REGISTRATIONS.c.endpoint, _REGISTRATIONS.c.node)
            .where(_REGISTRATIONS.c.endpoint.in_(endpoints)))  # fmt: skip
        return dict(rows.all())

    async def expire_orphans(self, live: Collection[str], before: float) -> list[Registration]:
        """Delete the registrations of nodes not in `live` that expired before `before`."""
        query = _REGISTRATIONS.c.node.not_in(live) & (_REGISTRATIONS.c.expires_at < before)
        gone = [_registration(r) for r in await self.session.execute(
            select(_REGISTRATIONS).where(query))]  # fmt: skip
        await self.remove_many([r.id for r in gone])
        return gone

    async def remove(self, registration_id: str) -> Registration | None:
        row = await self.session.get(RegistrationRow, registration_id)
        if row is None:
            return None
        reg = _registration(row)
        await self.session.delete(row)
        await self.session.flush()  # later look-ups in this transaction no longer find it
        return reg


class SqlObservations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, registration_id: str, path: Lwm2mPath, content_format: int | None, token: str,
        paths: tuple[Lwm2mPath, ...] = (),
    ) -> StoredObservation:  # fmt: skip
        """Store an observation, replacing one of the same target."""
        joined = _joined(paths)
        await self.session.execute(
            delete(ObservationRow).where(
                ObservationRow.registration_id == registration_id, ObservationRow.path == str(path),
                ObservationRow.paths == joined,
            )
        )  # fmt: skip
        row = ObservationRow(
            registration_id=registration_id,
            path=str(path),
            content_format=content_format,
            token=token,
            created=time.time(),
            paths=joined,
        )
        self.session.add(row)
        await self.session.flush()
        return StoredObservation(row.id, registration_id, path, content_format, token, paths)

    async def all(self, registration_id: str | None = None) -> list[StoredObservation]:
        query = select(ObservationRow).order_by(ObservationRow.id)
        if registration_id is not None:
            query = query.where(ObservationRow.registration_id == registration_id)
        return [
            StoredObservation(
                r.id, r.registration_id, Lwm2mPath.parse(r.path), r.content_format, r.token,
                tuple(Lwm2mPath.parse(p) for p in r.paths.split(",") if p),
            )
            for r in await self.session.scalars(query)
        ]

    async def remove(self, observation_id: int) -> None:
        await self.session.execute(
            delete(ObservationRow).where(ObservationRow.id == observation_id)
        )


def _joined(paths: tuple[Lwm2mPath, ...]) -> str:
    return ",".join(str(p) for p in paths)


def _queued(row: QueuedRequestRow) -> QueuedRequest:
    return QueuedRequest(row.id, row.endpoint, DownlinkRequest.from_json(row.request), row.status,
                         row.response_code, row.error)  # fmt: skip


class SqlRequestQueue:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, endpoint: str, request: DownlinkRequest) -> int:
        row = QueuedRequestRow(
            endpoint=endpoint, request=request.to_json(), status="pending", created=time.time()
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def pending(self, endpoint: str) -> list[QueuedRequest]:
        rows = await self.session.scalars(
            select(QueuedRequestRow)
            .where(QueuedRequestRow.endpoint == endpoint, QueuedRequestRow.status == "pending")
            .order_by(QueuedRequestRow.id)
        )
        return [_queued(r) for r in rows]

    async def endpoints_pending(self) -> set[str]:
        rows = await self.session.scalars(
            select(QueuedRequestRow.endpoint).where(QueuedRequestRow.status == "pending").distinct()
        )
        return set(rows)

    async def get(self, request_id: int) -> QueuedRequest | None:
        row = await self.session.get(QueuedRequestRow, request_id)
        return None if row is None else _queued(row)

    async def complete(self, request_id: int, *, ok: bool, code: int | None,
                       payload: bytes | None, content_format: int | None,
                       error: str | None) -> None:  # fmt: skip
        await self.session.execute(
            update(QueuedRequestRow)
            .where(QueuedRequestRow.id == request_id)
            .values(status="done" if ok else "failed", response_code=code,
                    response_payload=payload, response_format=content_format, error=error,
                    completed=time.time())
        )  # fmt: skip
