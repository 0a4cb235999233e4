"""The nodes of the service and their heartbeats."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.cluster import Node
from .tables import NodeRow


def _node(row: NodeRow) -> Node:
    return Node(row.id, row.coap_uri, row.coaps_uri, row.api_url, row.started, row.heartbeat)


class SqlNodes:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, node: Node) -> None:
        """Record the node (its addresses may have changed) with its heartbeat."""
        await self.session.merge(NodeRow(
            id=node.id, coap_uri=node.coap_uri, coaps_uri=node.coaps_uri, api_url=node.api_url,
            started=node.started, heartbeat=node.heartbeat))

    async def live(self, since: float) -> list[Node]:
        """Nodes whose last heartbeat is at or after `since`, by id."""
        rows = await self.session.scalars(
            select(NodeRow).where(NodeRow.heartbeat >= since).order_by(NodeRow.id))
        return [_node(r) for r in rows]

    async def remove(self, node_id: str) -> None:
        await self.session.execute(delete(NodeRow).where(NodeRow.id == node_id))
