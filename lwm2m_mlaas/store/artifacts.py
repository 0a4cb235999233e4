"""Compile outcomes by compile key, and the artifacts they produced (once per content id)."""

from __future__ import annotations

import time
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core.artifact import StoredArtifact, StoredCompile
from .tables import ArtifactRow, CompileRow


def _artifact(row: ArtifactRow) -> StoredArtifact:
    return StoredArtifact(
        row.id, row.model, row.model_version, row.task, row.device_class, row.backend,
        row.compiler_version, row.arena_bytes, row.model_bytes, row.package_bytes,
        MappingProxyType(dict(row.quality)), row.path, row.created,
    )  # fmt: skip


class SqlArtifacts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_compile(self, compile_: StoredCompile) -> None:
        """Store a compile outcome (and its artifact, once per content id)."""
        artifact = compile_.artifact
        if artifact is not None and await self.session.get(ArtifactRow, artifact.id) is None:
            fields = {f: getattr(artifact, f) for f in StoredArtifact.__slots__}
            self.session.add(ArtifactRow(**{**fields, "quality": dict(artifact.quality)}))
        await self.session.merge(
            CompileRow(
                key=compile_.key, task=compile_.task, device_class=compile_.device_class,
                compiler_version=compile_.compiler_version,
                artifact_id=None if artifact is None else artifact.id, reason=compile_.reason,
                seconds=compile_.seconds, created=time.time(),
            )
        )  # fmt: skip

    async def compile_result(self, key: str) -> StoredCompile | None:
        row = await self.session.get(CompileRow, key)
        if row is None:
            return None
        artifact = None
        if row.artifact_id is not None:
            artifact = await self.get(row.artifact_id)
        return StoredCompile(
            row.key, row.task, row.device_class, row.compiler_version, artifact, row.reason,
            row.seconds,
        )  # fmt: skip

    async def get(self, artifact_id: str) -> StoredArtifact | None:
        row = await self.session.get(ArtifactRow, artifact_id)
        return None if row is None else _artifact(row)

    async def all(self) -> list[StoredArtifact]:
        rows = await self.session.scalars(
            select(ArtifactRow).order_by(ArtifactRow.task, ArtifactRow.device_class)
        )
        return [_artifact(r) for r in rows]
