"""The nodes of the service, their heartbeats, and the leases they hold."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.cluster import Node
from .tables import LeaseRow, NodeRow, insert_new


def _node(row: NodeRow) -> Node:
    return Node(row.id, row.coap_uri, row.coaps_uri, row.api_url, row.started, row.heartbeat,
                row.api_token)


class SqlNodes:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, node: Node) -> None:
        """Record the node (its addresses may have changed) with its heartbeat."""
        await self.session.merge(NodeRow(
            id=node.id, coap_uri=node.coap_uri, coaps_uri=node.coaps_uri, api_url=node.api_url,
            api_token=node.api_token,
            started=node.started, heartbeat=node.heartbeat))

    async def live(self, since: float) -> list[Node]:
        """Nodes whose last heartbeat is at or after `since`, by id."""
        rows = await self.session.scalars(
            select(NodeRow).where(NodeRow.heartbeat >= since).order_by(NodeRow.id))
        return [_node(r) for r in rows]

    async def remove(self, node_id: str) -> None:
        await self.session.execute(delete(NodeRow).where(NodeRow.id == node_id))


class SqlLeases:
    """Leases taken with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL): a lease another
    transaction is deciding on right now counts as held. SQLite has one writer at a time, so
    there the check and the write cannot interleave in the first place."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acquire(self, name: str, holder: str, *, now: float, until: float) -> bool:
        """Take or renew the lease: free, expired, or already `holder`'s."""
        row = await self.session.scalar(
            select(LeaseRow).where(LeaseRow.name == name).with_for_update(skip_locked=True))
        if row is None:  # none yet, or another node is deciding on it right now
            if await insert_new(self.session, LeaseRow,
                                {"name": name, "holder": holder, "expires": until}):  # fmt: skip
                return True
            held = await self.session.get(LeaseRow, name)  # (unlocked: as last committed)
            return held is not None and held.holder == holder and held.expires > now
        if row.holder != holder and row.expires > now:
            return False
        row.holder, row.expires = holder, until
        return True

    async def expiry(self, name: str) -> float | None:
        """When the lease runs out as last committed (None: nobody holds it)."""
        return await self.session.scalar(select(LeaseRow.expires).where(LeaseRow.name == name))

    async def release(self, name: str, holder: str) -> None:
        await self.session.execute(
            delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder))

    async def holders(self, now: float) -> dict[str, str]:
        """Every lease in force, by name."""
        rows = await self.session.scalars(select(LeaseRow).where(LeaseRow.expires > now))
        return {r.name: r.holder for r in rows}
