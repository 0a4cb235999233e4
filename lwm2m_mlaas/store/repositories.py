"""Repositories over one AsyncSession each; they take and return core values."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from ..core.bootstrap import BootstrapConfig
from ..core.errors import InvalidRequest
from ..core.linkformat import format_link_format, registered_links
from ..core.paths import Lwm2mPath
from ..core.registration import Registration
from ..core.requests import DownlinkRequest
from ..core.security import SEQUENCE_RESERVE, OscoreInfo, OscoreSetting, SecurityInfo
from .database import create_engine, create_schema, session_factory
from .tables import (
    ArtifactRow,
    AssignmentRow,
    BootstrapRow,
    CompileRow,
    DeliveryRow,
    DeviceRow,
    DeviceRuntimesRow,
    DeviceTrustRow,
    ObservationRow,
    OscoreRow,
    QueuedRequestRow,
    RegistrationRow,
    RolloutMemberRow,
    RolloutRow,
    SecurityRow,
    SignedPackageRow,
    SigningKeyRow,
)


@dataclass(frozen=True, slots=True)
class StoredObservation:
    id: int
    registration_id: str
    path: Lwm2mPath
    content_format: int | None
    token: str


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    id: int
    endpoint: str
    request: DownlinkRequest
    status: str
    """'pending', 'done' or 'failed'."""
    response_code: int | None = None
    error: str | None = None


# Core statements on the hot paths (the ORM's bulk machinery costs more than the SQL)
_REGISTRATIONS: Table = RegistrationRow.__table__  # type: ignore[assignment]


def _columns(reg: Registration) -> dict[str, Any]:
    return {
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


def _from_row(row: Any) -> Registration:
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


class Repository:
    """Everything persisted, reached through one session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # registrations
    async def add_registration(self, reg: Registration) -> Registration | None:
        """Store `reg`, replacing (and returning) an earlier registration of the same endpoint."""
        old = await self.registration_by_endpoint(reg.endpoint)
        await self.insert_registration(reg, replacing=old)
        return old

    async def insert_registration(
        self, reg: Registration, *, replacing: Registration | None
    ) -> None:
        """Insert `reg`; `replacing` is the endpoint's earlier registration, if any."""
        if replacing is not None:
            await self.session.execute(
                delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id == replacing.id)
            )
        await self.session.execute(insert(_REGISTRATIONS), [_columns(reg)])

    async def save_registration(self, reg: Registration) -> None:
        await self.apply_registration_changes(updates=[reg])

    async def apply_registration_changes(
        self,
        *,
        deletes: Iterable[str] = (),
        inserts: Iterable[Registration] = (),
        updates: Iterable[Registration] = (),
    ) -> None:
        """Many registration changes in three statements: deletes, then inserts, then updates.
        Observations of deleted registrations go with them (ON DELETE CASCADE)."""
        if gone := [{"reg_id": i} for i in deletes]:
            await self.session.execute(
                delete(_REGISTRATIONS).where(_REGISTRATIONS.c.id == bindparam("reg_id")), gone
            )
        if new := [_columns(r) for r in inserts]:
            await self.session.execute(insert(_REGISTRATIONS), new)
        if changed := [{"reg_id": r.id, **_columns(r)} for r in updates]:
            await self.session.execute(
                update(_REGISTRATIONS).where(_REGISTRATIONS.c.id == bindparam("reg_id")), changed
            )

    async def registration(self, registration_id: str) -> Registration | None:
        row = await self.session.get(RegistrationRow, registration_id)
        return None if row is None else _from_row(row)

    async def registration_by_endpoint(self, endpoint: str) -> Registration | None:
        row = await self.session.scalar(
            select(RegistrationRow).where(RegistrationRow.endpoint == endpoint)
        )
        return None if row is None else _from_row(row)

    async def registrations(self) -> list[Registration]:
        rows = await self.session.execute(
            select(_REGISTRATIONS).order_by(_REGISTRATIONS.c.endpoint)
        )  # (Core rows: a restart loads every registration, without ORM objects)
        return [_from_row(r) for r in rows]

    async def remove_registration(self, registration_id: str) -> Registration | None:
        row = await self.session.get(RegistrationRow, registration_id)
        if row is None:
            return None
        reg = _from_row(row)
        await self.session.delete(row)
        await self.session.flush()  # later look-ups in this transaction no longer find it
        return reg

    async def add_observation(
        self, registration_id: str, path: Lwm2mPath, content_format: int | None, token: str
    ) -> StoredObservation:
        await self.session.execute(
            delete(ObservationRow).where(
                ObservationRow.registration_id == registration_id, ObservationRow.path == str(path)
            )
        )
        row = ObservationRow(
            registration_id=registration_id,
            path=str(path),
            content_format=content_format,
            token=token,
            created=time.time(),
        )
        self.session.add(row)
        await self.session.flush()
        return StoredObservation(row.id, registration_id, path, content_format, token)

    async def observations(self, registration_id: str | None = None) -> list[StoredObservation]:
        query = select(ObservationRow).order_by(ObservationRow.id)
        if registration_id is not None:
            query = query.where(ObservationRow.registration_id == registration_id)
        return [
            StoredObservation(
                r.id, r.registration_id, Lwm2mPath.parse(r.path), r.content_format, r.token
            )
            for r in await self.session.scalars(query)
        ]

    async def remove_observation(self, observation_id: int) -> None:
        await self.session.execute(
            delete(ObservationRow).where(ObservationRow.id == observation_id)
        )

    async def enqueue(self, endpoint: str, request: DownlinkRequest) -> int:
        row = QueuedRequestRow(
            endpoint=endpoint, request=request.to_json(), status="pending", created=time.time()
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def pending_requests(self, endpoint: str) -> list[QueuedRequest]:
        rows = await self.session.scalars(
            select(QueuedRequestRow)
            .where(QueuedRequestRow.endpoint == endpoint, QueuedRequestRow.status == "pending")
            .order_by(QueuedRequestRow.id)
        )
        return [_queued(r) for r in rows]

    # compiled artifacts
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
            artifact = await self.artifact(row.artifact_id)
        return StoredCompile(
            row.key, row.task, row.device_class, row.compiler_version, artifact, row.reason,
            row.seconds,
        )  # fmt: skip

    async def artifact(self, artifact_id: str) -> StoredArtifact | None:
        row = await self.session.get(ArtifactRow, artifact_id)
        return None if row is None else _artifact(row)

    async def artifacts(self) -> list[StoredArtifact]:
        rows = await self.session.scalars(
            select(ArtifactRow).order_by(ArtifactRow.task, ArtifactRow.device_class)
        )
        return [_artifact(r) for r in rows]

    # deliveries
    async def add_delivery(
        self, endpoint: str, artifact_id: str, model: str, device_class: str, mode: str
    ) -> Delivery:
        now = time.time()
        row = DeliveryRow(endpoint=endpoint, artifact_id=artifact_id, model=model,
                          device_class=device_class, mode=mode, state="pending", attempts=0,
                          next_attempt=now, created=now, updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _delivery(row)

    async def update_delivery(self, delivery_id: int, **changes: Any) -> Delivery:
        row = await self.session.get(DeliveryRow, delivery_id)
        if row is None:
            raise LookupError(f"no delivery {delivery_id}")
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated = time.time()
        await self.session.flush()
        return _delivery(row)

    async def delivery(self, delivery_id: int) -> Delivery | None:
        row = await self.session.get(DeliveryRow, delivery_id)
        return None if row is None else _delivery(row)

    async def deliveries(
        self, endpoint: str | None = None, *, active: bool = False
    ) -> list[Delivery]:
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if endpoint is not None:
            query = query.where(DeliveryRow.endpoint == endpoint)
        if active:
            query = query.where(DeliveryRow.state.in_(Delivery.ACTIVE))
        return [_delivery(r) for r in await self.session.scalars(query)]

    # operator assignments
    async def assign(self, scope: str, value: str, target: str) -> None:
        await self.session.merge(AssignmentRow(scope=scope, value=value, target=target,
                                               created=time.time()))  # fmt: skip

    async def unassign(self, scope: str, value: str) -> bool:
        row = await self.session.get(AssignmentRow, (scope, value))
        if row is None:
            return False
        await self.session.delete(row)
        return True

    async def assignments(self) -> dict[tuple[str, str], str]:
        rows = await self.session.scalars(select(AssignmentRow))
        return {(r.scope, r.value): r.target for r in rows}

    # devices: class, requested task, operator tags
    async def record_device(self, endpoint: str, **changes: Any) -> DeviceRecord:
        """Create or update what is known of a device (device_class, task, tags)."""
        row = await self.session.get(DeviceRow, endpoint)
        if row is None:
            row = DeviceRow(endpoint=endpoint, device_class=None, task=None, tags=[])
            self.session.add(row)
        for name, value in changes.items():
            setattr(row, name, sorted(set(value)) if name == "tags" else value)
        row.updated = time.time()
        await self.session.flush()
        return _device(row)

    async def device(self, endpoint: str) -> DeviceRecord | None:
        row = await self.session.get(DeviceRow, endpoint)
        return None if row is None else _device(row)

    async def record_runtimes(self, endpoint: str, runtimes: Iterable[str]) -> None:
        """The ML runtimes the device reports (/32100/0/4), in its order."""
        row = await self.session.get(DeviceRuntimesRow, endpoint)
        if row is None:
            row = DeviceRuntimesRow(endpoint=endpoint)
            self.session.add(row)
        row.runtimes, row.updated = list(dict.fromkeys(runtimes)), time.time()
        await self.session.flush()

    async def device_runtimes(self, endpoint: str) -> tuple[str, ...] | None:
        """What the device last reported in /32100/0/4; None before it was read."""
        row = await self.session.get(DeviceRuntimesRow, endpoint)
        return None if row is None else tuple(row.runtimes)

    async def devices(self) -> list[DeviceRecord]:
        rows = await self.session.scalars(select(DeviceRow).order_by(DeviceRow.endpoint))
        return [_device(r) for r in rows]

    # rollouts
    async def add_rollout(self, name: str, target: str, selector: Mapping[str, str],
                          waves: list[int], max_concurrent: int,
                          failure_threshold: float) -> Rollout:  # fmt: skip
        now = time.time()
        row = RolloutRow(name=name, target=target, selector=dict(selector), waves=waves,
                         max_concurrent=max_concurrent, failure_threshold=failure_threshold,
                         state="running", reason=None, counted_from=now, created=now,
                         updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _rollout(row)

    async def rollout(self, rollout_id: int) -> Rollout | None:
        row = await self.session.get(RolloutRow, rollout_id)
        return None if row is None else _rollout(row)

    async def rollouts(self, states: Iterable[str] | None = None) -> list[Rollout]:
        query = select(RolloutRow).order_by(RolloutRow.id)
        if states is not None:
            query = query.where(RolloutRow.state.in_(list(states)))
        return [_rollout(r) for r in await self.session.scalars(query)]

    async def update_rollout(self, rollout_id: int, **changes: Any) -> Rollout:
        row = await self.session.get(RolloutRow, rollout_id)
        if row is None:
            raise LookupError(f"no rollout {rollout_id}")
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated = time.time()
        await self.session.flush()
        return _rollout(row)

    async def add_member(self, rollout_id: int, endpoint: str, wave: int, state: str = "pending",
                         reason: str | None = None) -> RolloutMember:  # fmt: skip
        now = time.time()
        row = RolloutMemberRow(rollout_id=rollout_id, endpoint=endpoint, wave=wave, state=state,
                               reason=reason, finished=None if state == "pending" else now,
                               updated=now)  # fmt: skip
        self.session.add(row)
        await self.session.flush()
        return _member(row)

    async def members(self, rollout_id: int) -> list[RolloutMember]:
        rows = await self.session.scalars(
            select(RolloutMemberRow).where(RolloutMemberRow.rollout_id == rollout_id)
            .order_by(RolloutMemberRow.wave, RolloutMemberRow.endpoint))  # fmt: skip
        return [_member(r) for r in rows]

    async def update_member(self, rollout_id: int, endpoint: str, **changes: Any) -> RolloutMember:
        row = await self.session.get(RolloutMemberRow, (rollout_id, endpoint))
        if row is None:
            raise LookupError(f"{endpoint} is not in rollout {rollout_id}")
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated = time.time()
        if changes.get("state") in RolloutMember.FINISHED:
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

    # security information (DTLS-PSK credentials)
    async def security_infos(self) -> list[SecurityInfo]:
        rows = await self.session.scalars(select(SecurityRow).order_by(SecurityRow.endpoint))
        return [SecurityInfo(r.endpoint, r.identity, r.key) for r in rows]

    async def security_info(self, endpoint: str) -> SecurityInfo | None:
        row = await self.session.get(SecurityRow, endpoint)
        return None if row is None else SecurityInfo(row.endpoint, row.identity, row.key)

    async def security_info_by_identity(self, identity: str) -> SecurityInfo | None:
        row = await self.session.scalar(select(SecurityRow).where(SecurityRow.identity == identity))
        return None if row is None else SecurityInfo(row.endpoint, row.identity, row.key)

    async def put_security_info(self, info: SecurityInfo) -> None:
        """Add or replace an endpoint's credentials; InvalidRequest if another endpoint
        already uses the identity."""
        owner = await self.security_info_by_identity(info.identity)
        if owner is not None and owner.endpoint != info.endpoint:
            raise InvalidRequest(
                f"PSK identity {info.identity!r} is already used by endpoint {owner.endpoint!r}"
            )
        bootstrap = await self.session.scalar(
            select(BootstrapRow.endpoint).where(BootstrapRow.identity == info.identity))
        if bootstrap is not None:
            raise InvalidRequest(f"PSK identity {info.identity!r} is the bootstrap credential "
                                 f"of endpoint {bootstrap!r}")  # fmt: skip
        await self.remove_oscore_info(info.endpoint)
        await self.session.merge(SecurityRow(endpoint=info.endpoint, identity=info.identity,
                                             key=info.key, created=time.time()))  # fmt: skip

    async def remove_security_info(self, endpoint: str) -> bool:
        row = await self.session.get(SecurityRow, endpoint)
        if row is None:
            return False
        await self.session.delete(row)
        return True

    # OSCORE credentials (one security mode per endpoint: putting them replaces a PSK)
    async def oscore_infos(self) -> list[tuple[OscoreInfo, int]]:
        """Every endpoint's OSCORE credentials with its reserved sender sequence number."""
        rows = await self.session.scalars(select(OscoreRow).order_by(OscoreRow.endpoint))
        return [(_oscore(r), r.sequence_reserved) for r in rows]

    async def oscore_info(self, endpoint: str) -> OscoreInfo | None:
        row = await self.session.get(OscoreRow, endpoint)
        return None if row is None else _oscore(row)

    async def put_oscore_info(self, info: OscoreInfo) -> None:
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
        await self.remove_security_info(info.endpoint)
        await self.remove_oscore_info(info.endpoint)
        await self.session.flush()
        self.session.add(OscoreRow(
            endpoint=info.endpoint, sender_id=s.sender_id, recipient_id=s.recipient_id,
            master_secret=s.master_secret, master_salt=s.master_salt, aead=s.aead, hkdf=s.hkdf,
            sequence_reserved=SEQUENCE_RESERVE, created=time.time()))  # fmt: skip

    async def remove_oscore_info(self, endpoint: str) -> bool:
        row = await self.session.get(OscoreRow, endpoint)
        if row is None:
            return False
        await self.session.delete(row)
        return True

    async def reserve_oscore_sequence(self, endpoint: str, upto: int) -> None:
        """Sender sequence numbers below `upto` may be used (RFC 8613 B.1.1)."""
        await self.session.execute(update(OscoreRow).where(OscoreRow.endpoint == endpoint)
                                   .values(sequence_reserved=upto))  # fmt: skip

    # bootstrap configurations
    async def bootstrap_configs(self) -> list[BootstrapRecord]:
        rows = await self.session.scalars(select(BootstrapRow).order_by(BootstrapRow.endpoint))
        return [_bootstrap(r) for r in rows]

    async def bootstrap_config(self, endpoint: str) -> BootstrapRecord | None:
        row = await self.session.get(BootstrapRow, endpoint)
        return None if row is None else _bootstrap(row)

    async def put_bootstrap_config(self, endpoint: str, config: BootstrapConfig) -> None:
        """Add or replace; InvalidRequest if its bootstrap PSK identity is anyone else's
        bootstrap identity or any DM credential's identity."""
        psk = config.bootstrap_psk()
        identity = None if psk is None else psk[0]
        if identity is not None:
            owner = await self.session.scalar(select(BootstrapRow.endpoint).where(
                BootstrapRow.identity == identity, BootstrapRow.endpoint != endpoint))  # fmt: skip
            dm = await self.security_info_by_identity(identity)
            used_by = owner or (dm.endpoint if dm is not None else None)
            if used_by is not None:
                raise InvalidRequest(f"PSK identity {identity!r} is already used by endpoint "
                                     f"{used_by!r}")  # fmt: skip
        row = await self.session.get(BootstrapRow, endpoint)
        if row is None:
            row = BootstrapRow(endpoint=endpoint)
            self.session.add(row)
        row.config, row.identity, row.updated = config.to_json(), identity, time.time()

    async def remove_bootstrap_config(self, endpoint: str) -> bool:
        row = await self.session.get(BootstrapRow, endpoint)
        if row is None:
            return False
        await self.session.delete(row)
        return True

    async def record_bootstrap(self, endpoint: str, result: str) -> None:
        row = await self.session.get(BootstrapRow, endpoint)
        if row is not None:
            row.last_bootstrap, row.last_result = time.time(), result

    async def endpoints_with_pending_requests(self) -> set[str]:
        rows = await self.session.scalars(
            select(QueuedRequestRow.endpoint).where(QueuedRequestRow.status == "pending").distinct()
        )
        return set(rows)

    async def queued_request(self, request_id: int) -> QueuedRequest | None:
        row = await self.session.get(QueuedRequestRow, request_id)
        return None if row is None else _queued(row)

    async def complete_request(
        self,
        request_id: int,
        *,
        ok: bool,
        code: int | None,
        payload: bytes | None,
        content_format: int | None,
        error: str | None,
    ) -> None:
        await self.session.execute(
            update(QueuedRequestRow)
            .where(QueuedRequestRow.id == request_id)
            .values(
                status="done" if ok else "failed",
                response_code=code,
                response_payload=payload,
                response_format=content_format,
                error=error,
                completed=time.time(),
            )
        )

    # package signing keys, what devices trust, packages signed per key
    async def signing_keys(self) -> list[SigningKey]:
        rows = await self.session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.position))
        return [_signing_key(r) for r in rows]

    async def add_signing_key(self, key: SigningKey) -> None:
        """Record a keyring key (once per key id)."""
        if await self.session.get(SigningKeyRow, key.key_id) is None:
            self.session.add(SigningKeyRow(key_id=key.key_id, position=key.position,
                                           public_key=key.public_key, created=key.created,
                                           retired=key.retired))  # fmt: skip
            await self.session.flush()

    async def retire_signing_key(self, key_id: str) -> SigningKey:
        row = await self.session.get(SigningKeyRow, key_id)
        if row is None:
            raise LookupError(f"no signing key {key_id}")
        row.retired = time.time()
        await self.session.flush()
        return _signing_key(row)

    async def record_trust(self, endpoint: str, key_ids: Iterable[str], *,
                           reported: bool) -> DeviceTrust:  # fmt: skip
        row = await self.session.get(DeviceTrustRow, endpoint)
        if row is None:
            row = DeviceTrustRow(endpoint=endpoint)
            self.session.add(row)
        row.key_ids, row.reported, row.updated = sorted(set(key_ids)), reported, time.time()
        await self.session.flush()
        return _trust(row)

    async def device_trusts(self) -> list[DeviceTrust]:
        rows = await self.session.scalars(select(DeviceTrustRow).order_by(DeviceTrustRow.endpoint))
        return [_trust(r) for r in rows]

    async def add_signed_package(self, package: SignedPackage) -> None:
        """Record a package (once per id; an (artifact, key) pair has one package)."""
        if await self.session.get(SignedPackageRow, package.id) is None:
            await self.session.execute(delete(SignedPackageRow).where(
                SignedPackageRow.artifact_id == package.artifact_id,
                SignedPackageRow.key_id == package.key_id))  # fmt: skip
            self.session.add(SignedPackageRow(id=package.id, artifact_id=package.artifact_id,
                                              key_id=package.key_id, path=package.path,
                                              created=package.created))  # fmt: skip
            await self.session.flush()

    async def signed_packages(self, artifact_id: str) -> list[SignedPackage]:
        rows = await self.session.scalars(
            select(SignedPackageRow)
            .where(SignedPackageRow.artifact_id == artifact_id)
            .order_by(SignedPackageRow.created)
        )
        return [_signed_package(r) for r in rows]

    async def signed_package(self, package_id: str) -> SignedPackage | None:
        row = await self.session.get(SignedPackageRow, package_id)
        return None if row is None else _signed_package(row)


def _oscore(row: OscoreRow) -> OscoreInfo:
    return OscoreInfo(row.endpoint, OscoreSetting(row.sender_id, row.recipient_id,
                                                  row.master_secret, row.master_salt, row.aead,
                                                  row.hkdf))  # fmt: skip


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    """COSE kid, hex."""
    position: int
    """0 for the original key; the highest is the active key."""
    public_key: bytes
    """32 raw bytes."""
    created: float
    retired: float | None


def _signing_key(row: SigningKeyRow) -> SigningKey:
    return SigningKey(row.key_id, row.position, row.public_key, row.created, row.retired)


@dataclass(frozen=True, slots=True)
class DeviceTrust:
    endpoint: str
    key_ids: tuple[str, ...]
    """Key ids (hex) the device trusts."""
    reported: bool
    """Read from /32100/0/9; false: assumed (the original key)."""
    updated: float


def _trust(row: DeviceTrustRow) -> DeviceTrust:
    return DeviceTrust(row.endpoint, tuple(row.key_ids or ()), row.reported, row.updated)


@dataclass(frozen=True, slots=True)
class SignedPackage:
    id: str
    """SHA-256 of the package file: what a device running it reports in /5/0/7."""
    artifact_id: str
    key_id: str
    """Hex kid of the key that signed it."""
    path: str
    created: float


def _signed_package(row: SignedPackageRow) -> SignedPackage:
    return SignedPackage(row.id, row.artifact_id, row.key_id, row.path, row.created)


@dataclass(frozen=True, slots=True)
class BootstrapRecord:
    endpoint: str
    config: BootstrapConfig
    updated: float
    last_bootstrap: float | None
    last_result: str | None
    """'finished', or what failed."""


def _bootstrap(row: BootstrapRow) -> BootstrapRecord:
    return BootstrapRecord(row.endpoint, BootstrapConfig.from_json(row.config), row.updated,
                           row.last_bootstrap, row.last_result)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    endpoint: str
    device_class: str | None
    task: str | None
    """The task the device asks for (/32100/0/5)."""
    tags: tuple[str, ...]


def _device(row: DeviceRow) -> DeviceRecord:
    return DeviceRecord(row.endpoint, row.device_class, row.task, tuple(row.tags or ()))


@dataclass(frozen=True, slots=True)
class Rollout:
    id: int
    name: str
    target: str
    """A zoo task or a model name."""
    selector: Mapping[str, str]
    """Any of class, tag, task and endpoint (a glob); all given must match."""
    waves: tuple[int, ...]
    max_concurrent: int
    failure_threshold: float
    """Share of devices finished since `counted_from` that may fail before the rollout
    pauses itself."""
    state: str
    """running, paused, completed, aborted, rolling_back or rolled_back."""
    reason: str | None
    counted_from: float
    created: float
    updated: float

    ACTIVE = ("running", "paused", "rolling_back")


def _rollout(row: RolloutRow) -> Rollout:
    return Rollout(row.id, row.name, row.target, MappingProxyType(dict(row.selector)),
                   tuple(row.waves), row.max_concurrent, row.failure_threshold, row.state,
                   row.reason, row.counted_from, row.created, row.updated)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RolloutMember:
    rollout_id: int
    endpoint: str
    wave: int
    state: str
    """pending, in_progress, succeeded, failed, skipped, rolling_back, rolled_back."""
    reason: str | None
    device_class: str | None
    artifact_id: str | None
    previous_artifact_id: str | None
    """What the device ran before: the rollback target."""
    delivery_id: int | None
    finished: float | None

    FINISHED = ("succeeded", "failed", "skipped", "rolled_back")
    OPEN = ("pending", "in_progress", "rolling_back")


def _member(row: RolloutMemberRow) -> RolloutMember:
    return RolloutMember(row.rollout_id, row.endpoint, row.wave, row.state, row.reason,
                         row.device_class, row.artifact_id, row.previous_artifact_id,
                         row.delivery_id, row.finished)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    id: str
    """SHA-256 of the package file."""
    model: str
    model_version: str
    task: str
    device_class: str
    backend: str
    compiler_version: str
    arena_bytes: int
    model_bytes: int
    package_bytes: int
    quality: Mapping[str, Any]
    path: str
    created: float


@dataclass(frozen=True, slots=True)
class StoredCompile:
    key: str
    task: str
    device_class: str
    compiler_version: str
    artifact: StoredArtifact | None
    reason: str | None
    """Why no variant fits the class (when artifact is None)."""
    seconds: float
    backend: str = "tflm"
    """The runtime compiled for (part of the key; the compile service fills it in)."""


def _artifact(row: ArtifactRow) -> StoredArtifact:
    return StoredArtifact(
        row.id, row.model, row.model_version, row.task, row.device_class, row.backend,
        row.compiler_version, row.arena_bytes, row.model_bytes, row.package_bytes,
        MappingProxyType(dict(row.quality)), row.path, row.created,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint: str
    artifact_id: str
    model: str
    device_class: str
    mode: str
    """'push' or 'pull'."""
    state: str
    """pending, transferring, downloaded, updating; then succeeded, failed or cancelled."""
    attempts: int
    next_attempt: float
    result: int | None
    reason: str | None
    created: float
    updated: float

    ACTIVE = ("pending", "transferring", "downloaded", "updating")

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        row.id, row.endpoint, row.artifact_id, row.model, row.device_class, row.mode, row.state,
        row.attempts, row.next_attempt, row.result, row.reason, row.created, row.updated,
    )  # fmt: skip


def _queued(row: QueuedRequestRow) -> QueuedRequest:
    return QueuedRequest(
        row.id,
        row.endpoint,
        DownlinkRequest.from_json(row.request),
        row.status,
        row.response_code,
        row.error,
    )


class Turns:
    """Who gets a database connection next: urgent callers (the registration interface's group
    commit) go before every other waiter, so a registration waits for at most the one
    transaction in flight, never for a queue of provisioning work."""

    def __init__(self, connections: int) -> None:
        self.free = connections
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._other: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._other)

    async def take(self, urgent: bool) -> None:
        if self.free > 0 and not self._urgent and (urgent or not self._other):
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._other).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # granted and cancelled in the same step: pass the turn on
            raise

    def give(self) -> None:
        for queue in (self._urgent, self._other):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1


class Store:
    """The database: `async with store.transaction() as repo:` is one session, one commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self.turns = Turns(engine.pool.size() if isinstance(engine.pool, QueuePool) else 1)

    @classmethod
    async def open(cls, url: str) -> Store:
        engine = create_engine(url)
        await create_schema(engine)
        return cls(engine)

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Repository]:
        """One session, one commit. `urgent` (the registration path) is served before every
        other transaction waiting for a connection."""
        await self.turns.take(urgent)
        try:
            async with self._sessions() as session, session.begin():
                yield Repository(session)
        finally:
            self.turns.give()

    async def close(self) -> None:
        await self.engine.dispose()
        await _end_stranded_closes()


async def _end_stranded_closes(grace: float = 1.0) -> None:
    """A task cancelled twice inside a transaction makes SQLAlchemy close its connection in a
    shielded task while also stopping aiosqlite's worker thread; that task can then wait
    forever on the stopped thread, and a loop shutting down would wait on it. End such tasks."""
    stranded = [task for task in asyncio.all_tasks() if getattr(
        task.get_coro(), "__qualname__", "").endswith("_terminate_graceful_close")]  # fmt: skip
    if not stranded:
        return
    _done, pending = await asyncio.wait(stranded, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
