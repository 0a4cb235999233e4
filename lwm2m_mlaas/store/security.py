"""Credentials (DTLS-PSK, OSCORE) and bootstrap configurations. An endpoint has one security
mode (putting OSCORE credentials replaces a PSK and the other way round), and a PSK identity
belongs to one endpoint, as a DM or as a bootstrap credential."""

from __future__ import annotations

import time

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.bootstrap import BootstrapConfig, BootstrapRecord
from ..core.errors import InvalidRequest
from ..core.security import SEQUENCE_RESERVE, OscoreInfo, OscoreSetting, SecurityInfo
from .tables import BootstrapRow, OscoreRow, SecurityRow, remove_row


class SqlSecurity:
    """DTLS-PSK credentials."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[SecurityInfo]:
        rows = await self.session.scalars(select(SecurityRow).order_by(SecurityRow.endpoint))
        return [SecurityInfo(r.endpoint, r.identity, r.key) for r in rows]

    async def get(self, endpoint: str) -> SecurityInfo | None:
        row = await self.session.get(SecurityRow, endpoint)
        return None if row is None else SecurityInfo(row.endpoint, row.identity, row.key)

    async def by_identity(self, identity: str) -> SecurityInfo | None:
        row = await self.session.scalar(select(SecurityRow).where(SecurityRow.identity == identity))
        return None if row is None else SecurityInfo(row.endpoint, row.identity, row.key)

    async def put(self, info: SecurityInfo) -> None:
        """Add or replace an endpoint's credentials; InvalidRequest if another endpoint
        already uses the identity."""
        owner = await self.by_identity(info.identity)
        if owner is not None and owner.endpoint != info.endpoint:
            raise InvalidRequest(
                f"PSK identity {info.identity!r} is already used by endpoint {owner.endpoint!r}"
            )
        bootstrap = await self.session.scalar(
            select(BootstrapRow.endpoint).where(BootstrapRow.identity == info.identity))
        if bootstrap is not None:
            raise InvalidRequest(f"PSK identity {info.identity!r} is the bootstrap credential "
                                 f"of endpoint {bootstrap!r}")  # fmt: skip
        await remove_row(self.session, OscoreRow, info.endpoint)
        await self.session.merge(SecurityRow(endpoint=info.endpoint, identity=info.identity,
                                             key=info.key, created=time.time()))  # fmt: skip

    async def remove(self, endpoint: str) -> bool:
        return await remove_row(self.session, SecurityRow, endpoint)


def _oscore(row: OscoreRow) -> OscoreInfo:
    return OscoreInfo(row.endpoint, OscoreSetting(row.sender_id, row.recipient_id,
                                                  row.master_secret, row.master_salt, row.aead,
                                                  row.hkdf))  # fmt: skip


class SqlOscore:
    """OSCORE credentials with each context's reserved sender sequence number."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[tuple[OscoreInfo, int]]:
        """Every endpoint's OSCORE credentials with its reserved sender sequence number."""
        rows = await self.session.scalars(select(OscoreRow).order_by(OscoreRow.endpoint))
        return [(_oscore(r), r.sequence_reserved) for r in rows]

    async def get(self, endpoint: str) -> OscoreInfo | None:
        row = await self.session.get(OscoreRow, endpoint)
        return None if row is None else _oscore(row)

    async def reserved(self, endpoint: str) -> int | None:
        """The endpoint's reserved sender sequence number, None without a context."""
        return await self.session.scalar(
            select(OscoreRow.sequence_reserved).where(OscoreRow.endpoint == endpoint))

    async def put(self, info: OscoreInfo) -> None:
        """Add or replace; InvalidRequest if another endpoint's context has the same
        recipient id. A new context starts its sequence numbers at 0, with the first
        SEQUENCE_RESERVE of them reserved."""
        s = info.setting
        owner = await self.session.scalar(select(OscoreRow.endpoint).where(
            OscoreRow.recipient_id == s.recipient_id,
            OscoreRow.endpoint != info.endpoint))  # fmt: skip
        if owner is not None:
            raise InvalidRequest(f"OSCORE recipient id {s.recipient_id.hex()} is already used "
                                 f"by endpoint {owner!r}")  # fmt: skip
        await remove_row(self.session, SecurityRow, info.endpoint)
        await remove_row(self.session, OscoreRow, info.endpoint)
        await self.session.flush()
        self.session.add(OscoreRow(
            endpoint=info.endpoint, sender_id=s.sender_id, recipient_id=s.recipient_id,
            master_secret=s.master_secret, master_salt=s.master_salt, aead=s.aead, hkdf=s.hkdf,
            sequence_reserved=SEQUENCE_RESERVE, created=time.time()))  # fmt: skip

    async def remove(self, endpoint: str) -> bool:
        return await remove_row(self.session, OscoreRow, endpoint)

    async def reserve_sequence(self, endpoint: str, upto: int) -> None:
        """Sender sequence numbers below `upto` may be used (RFC 8613 B.1.1)."""
        await self.session.execute(update(OscoreRow).where(OscoreRow.endpoint == endpoint)
                                   .values(sequence_reserved=upto))  # fmt: skip


def _bootstrap(row: BootstrapRow) -> BootstrapRecord:
    return BootstrapRecord(row.endpoint, BootstrapConfig.from_json(row.config), row.updated,
                           row.last_bootstrap, row.last_result)  # fmt: skip


class SqlBootstrap:
    """Bootstrap configurations and the outcome of each endpoint's last bootstrap."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[BootstrapRecord]:
        rows = await self.session.scalars(select(BootstrapRow).order_by(BootstrapRow.endpoint))
        return [_bootstrap(r) for r in rows]

    async def get(self, endpoint: str) -> BootstrapRecord | None:
        row = await self.session.get(BootstrapRow, endpoint)
        return None if row is None else _bootstrap(row)

    async def put(self, endpoint: str, config: BootstrapConfig) -> None:
        """Add or replace; InvalidRequest if its bootstrap PSK identity is anyone else's
        bootstrap identity or any DM credential's identity."""
        psk = config.bootstrap_psk()
        identity = None if psk is None else psk[0]
        if identity is not None:
            owner = await self.session.scalar(select(BootstrapRow.endpoint).where(
                BootstrapRow.identity == identity, BootstrapRow.endpoint != endpoint))  # fmt: skip
            dm = await SqlSecurity(self.session).by_identity(identity)
            used_by = owner or (dm.endpoint if dm is not None else None)
            if used_by is not None:
                raise InvalidRequest(f"PSK identity {identity!r} is already used by endpoint "
                                     f"{used_by!r}")  # fmt: skip
        row = await self.session.get(BootstrapRow, endpoint)
        if row is None:
            row = BootstrapRow(endpoint=endpoint)
            self.session.add(row)
        row.config, row.identity, row.updated = config.to_json(), identity, time.time()

    async def remove(self, endpoint: str) -> bool:
        return await remove_row(self.session, BootstrapRow, endpoint)

    async def record_result(self, endpoint: str, result: str) -> None:
        row = await self.session.get(BootstrapRow, endpoint)
        if row is not None:
            row.last_bootstrap, row.last_result = time.time(), result
