"""The last value of each path each device sent (Send, /dp)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.paths import Lwm2mPath
from ..core.requests import SentValue
from .tables import SentValueRow, upsert


class SqlSentValues:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, values: Iterable[SentValue]) -> None:
        """Keep each value, replacing the one stored for its endpoint and path."""
        rows = [{"endpoint": v.endpoint, "path": str(v.path), "payload": v.payload, "at": v.at}
                for v in values]  # fmt: skip
        if rows:
            await upsert(self.session, SentValueRow, rows)

    async def of(self, endpoint: str) -> list[SentValue]:
        rows = await self.session.scalars(
            select(SentValueRow).where(SentValueRow.endpoint == endpoint))
        return [SentValue(r.endpoint, Lwm2mPath.parse(r.path), r.payload, r.at) for r in rows]
