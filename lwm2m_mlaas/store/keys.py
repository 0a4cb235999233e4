"""The package signing keyring, the keys each device trusts, and packages signed per key."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.signing import DeviceTrust, SignedPackage, SigningKey
from .tables import DeviceTrustRow, SignedPackageRow, SigningKeyRow, insert_new


def _signing_key(row: SigningKeyRow) -> SigningKey:
    return SigningKey(row.key_id, row.position, row.public_key, row.created, row.retired)


def _signed_package(row: SignedPackageRow) -> SignedPackage:
    return SignedPackage(row.id, row.artifact_id, row.key_id, row.path, row.created)


class SqlKeys:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[SigningKey]:
        rows = await self.session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.position))
        return [_signing_key(r) for r in rows]

    async def add(self, key: SigningKey) -> None:
        """Record a keyring key (once per key id)."""
        await insert_new(self.session, SigningKeyRow, {
            "key_id": key.key_id, "position": key.position, "public_key": key.public_key,
            "created": key.created, "retired": key.retired})  # fmt: skip

    async def retire(self, key_id: str) -> SigningKey:
        row = await self.session.get(SigningKeyRow, key_id)
        if row is None:
            raise LookupError(f"no signing key {key_id}")
        row.retired = time.time()
        await self.session.flush()
        return _signing_key(row)

    async def add_package(self, package: SignedPackage) -> None:
        """Record a package (once per id; an (artifact, key) pair has one package)."""
        if await self.session.get(SignedPackageRow, package.id) is None:
            await self.session.execute(delete(SignedPackageRow).where(
                SignedPackageRow.artifact_id == package.artifact_id,
                SignedPackageRow.key_id == package.key_id))  # fmt: skip
            await insert_new(self.session, SignedPackageRow, {
                "id": package.id, "artifact_id": package.artifact_id, "key_id": package.key_id,
                "path": package.path, "created": package.created})  # fmt: skip

    async def packages(self, artifact_id: str) -> list[SignedPackage]:
        rows = await self.session.scalars(
            select(SignedPackageRow)
            .where(SignedPackageRow.artifact_id == artifact_id)
            .order_by(SignedPackageRow.created)
        )
        return [_signed_package(r) for r in rows]

    async def package(self, package_id: str) -> SignedPackage | None:
        row = await self.session.get(SignedPackageRow, package_id)
        return None if row is None else _signed_package(row)


def _trust(row: DeviceTrustRow) -> DeviceTrust:
    return DeviceTrust(row.endpoint, tuple(row.key_ids or ()), row.reported, row.updated)


class SqlTrust:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, endpoint: str, key_ids: Iterable[str], *,
                     reported: bool) -> DeviceTrust:  # fmt: skip
        row = await self.session.get(DeviceTrustRow, endpoint)
        if row is None:
            row = DeviceTrustRow(endpoint=endpoint)
            self.session.add(row)
        row.key_ids, row.reported, row.updated = sorted(set(key_ids)), reported, time.time()
        await self.session.flush()
        return _trust(row)

    async def all(self) -> list[DeviceTrust]:
        rows = await self.session.scalars(select(DeviceTrustRow).order_by(DeviceTrustRow.endpoint))
        return [_trust(r) for r in rows]
