"""ORM rows and their mapping; rows never leave store/ (the stores return core values)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..core.changes import changed_fields


class Base(DeclarativeBase):
    pass


class RegistrationRow(Base):
    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    host: Mapped[str] = mapped_column(String(64))
    port: Mapped[int] = mapped_column(Integer)
    lifetime: Mapped[int] = mapped_column(Integer)
    lwm2m_version: Mapped[str] = mapped_column(String(8))
    binding: Mapped[str] = mapped_column(String(8))
    queue_mode: Mapped[bool] = mapped_column(Boolean)
    sms: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secure: Mapped[bool] = mapped_column(Boolean, default=False)
    object_links: Mapped[str] = mapped_column(Text)
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registration_date: Mapped[float] = mapped_column(Float)
    last_update: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    # server default: rows written without the column (before migration 0002, or by an older
    # node) get ''; text(), as Alembic's comparison reads a plain "" from SQLite as a change
    node: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"),
                                      index=True)  # fmt: skip
    """The node the device registered on ('' before the service had several)."""


class ObservationRow(Base):
    __tablename__ = "observations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[str] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(32))
    content_format: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token: Mapped[str] = mapped_column(String(16), default="")
    paths: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    """An Observe-Composite's paths, comma-separated ('' for an Observe)."""
    created: Mapped[float] = mapped_column(Float)


class SentValueRow(Base):
    """The last value a device sent at one path (Send, /dp), as SenML CBOR."""

    __tablename__ = "sent_values"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    path: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[float] = mapped_column(Float)


class QueuedRequestRow(Base):
    __tablename__ = "queued_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(255), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_payload: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    response_format: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[float] = mapped_column(Float)
    completed: Mapped[float | None] = mapped_column(Float, nullable=True)


class ArtifactRow(Base):
    """A signed model package: content-addressed file <artifacts>/<id>.pkg."""

    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the package file."""
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(64), index=True)
    device_class: Mapped[str] = mapped_column(String(64), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    compiler_version: Mapped[str] = mapped_column(String(64))
    arena_bytes: Mapped[int] = mapped_column(Integer)
    model_bytes: Mapped[int] = mapped_column(Integer)
    package_bytes: Mapped[int] = mapped_column(Integer)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    path: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)


class CompileRow(Base):
    """The outcome of compiling a task's variants for a class: an artifact or why none fits."""

    __tablename__ = "compiles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Hash of the variants' versions, the class and the compiler version."""
    task: Mapped[str] = mapped_column(String(64), index=True)
    device_class: Mapped[str] = mapped_column(String(64))
    compiler_version: Mapped[str] = mapped_column(String(64))
    artifact_id: Mapped[str | None] = mapped_column(
        ForeignKey("artifacts.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float] = mapped_column(Float)
    created: Mapped[float] = mapped_column(Float)


class DeliveryRow(Base):
    """One package delivery to one device over object 5 (the provisioning state machine)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(255), index=True)
    artifact_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    device_class: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Float)
    result: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, index=True)
    node: Mapped[str | None] = mapped_column(String(128), nullable=True)
    """The node running an attempt now (a claim void once that node is dead)."""


class AssignmentRow(Base):
    """An operator's choice of model for a class, a tag or an endpoint (most specific wins)."""

    __tablename__ = "assignments"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    """'endpoint', 'tag' or 'class'."""
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    target: Mapped[str] = mapped_column(String(128))
    """A zoo task or a model name."""
    created: Mapped[float] = mapped_column(Float)


class SecurityRow(Base):
    """DTLS-PSK credentials of one endpoint; an identity belongs to one endpoint only."""

    __tablename__ = "security"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    identity: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[float] = mapped_column(Float)


class OscoreRow(Base):
    """OSCORE credentials of one endpoint (server's view); `recipient_id` is the kid its
    requests carry, so unique. `sequence_reserved` bounds the sender sequence numbers used."""

    __tablename__ = "oscore_security"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    sender_id: Mapped[bytes] = mapped_column(LargeBinary)
    recipient_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True, index=True)
    master_secret: Mapped[bytes] = mapped_column(LargeBinary)
    master_salt: Mapped[bytes] = mapped_column(LargeBinary)
    aead: Mapped[int] = mapped_column(Integer)
    hkdf: Mapped[int] = mapped_column(Integer)
    sequence_reserved: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[float] = mapped_column(Float)


class BootstrapRow(Base):
    """An endpoint's bootstrap configuration (Leshan's JSON form); `identity` is its factory
    bootstrap PSK identity, unique among bootstrap and DM credentials."""

    __tablename__ = "bootstrap_configs"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    identity: Mapped[str | None] = mapped_column(String(128), unique=True, index=True,
                                                 nullable=True)  # fmt: skip
    updated: Mapped[float] = mapped_column(Float)
    last_bootstrap: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_result: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeviceRow(Base):
    """What the service learnt of a device (its class and requested task) and the operator's
    tags; kept while the device is away, so selectors see offline devices too."""

    __tablename__ = "devices"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    device_class: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    task: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated: Mapped[float] = mapped_column(Float)


class DeviceRuntimesRow(Base):
    """The ML runtimes a device last reported in /32100/0/4 (tflm, native-<ABI>): what
    rollouts compile its model for. Its own table, like device_trust, so a database made before
    it needs no migration."""

    __tablename__ = "device_runtimes"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    runtimes: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated: Mapped[float] = mapped_column(Float)


class RolloutRow(Base):
    """A staged rollout of a model (a task or a model name) to the devices a selector picks."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(128))
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    waves: Mapped[list[int]] = mapped_column(JSON)
    """Devices per wave, fixed at creation: the canary first."""
    max_concurrent: Mapped[int] = mapped_column(Integer)
    failure_threshold: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    counted_from: Mapped[float] = mapped_column(Float)
    """Failures finished after this time count toward the threshold (reset on resume)."""
    created: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class RolloutMemberRow(Base):
    """One device's part in a rollout."""

    __tablename__ = "rollout_members"

    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    wave: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    device_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    artifact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_artifact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated: Mapped[float] = mapped_column(Float)


class SigningKeyRow(Base):
    """A package signing key of the keyring (the private key stays in the keys folder)."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    """COSE kid, hex."""
    position: Mapped[int] = mapped_column(Integer)
    """Its place in the keyring: 0 for the original key."""
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[float] = mapped_column(Float)
    retired: Mapped[float | None] = mapped_column(Float, nullable=True)


class DeviceTrustRow(Base):
    """The signing keys a device trusts, as it last reported them in /32100/0/9 (or assumed:
    the original key, for a device that does not report them)."""

    __tablename__ = "device_trust"

    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    reported: Mapped[bool] = mapped_column(Boolean)
    updated: Mapped[float] = mapped_column(Float)


class SignedPackageRow(Base):
    """An artifact's package signed with one key: content-addressed file <packages>/<id>.pkg."""

    __tablename__ = "signed_packages"
    __table_args__ = (UniqueConstraint("artifact_id", "key_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the package file (what the device reports in /5/0/7)."""
    artifact_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)



class NodeRow(Base):
    """A `mlaas serve` node of the service and its last heartbeat."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    coap_uri: Mapped[str] = mapped_column(String(255))
    coaps_uri: Mapped[str] = mapped_column(String(255))
    api_url: Mapped[str] = mapped_column(String(255))
    api_token: Mapped[str] = mapped_column(String(128), default="", server_default=text("''"))
    """The bearer token its REST API takes (another node forwards requests with it)."""
    started: Mapped[float] = mapped_column(Float)
    heartbeat: Mapped[float] = mapped_column(Float, index=True)


class LeaseRow(Base):
    """Work one node of the service drives at a time (rollouts, a device's deliveries...):
    held by `holder` until `expires`, renewed while it lives, taken over after."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), index=True)
    expires: Mapped[float] = mapped_column(Float)


async def remove_row(session: AsyncSession, row_type: type[Base], key: Any) -> bool:
    """Delete the row with this primary key; whether there was one."""
    row = await session.get(row_type, key)
    if row is None:
        return False
    await session.delete(row)
    return True


def _insert(session: AsyncSession, row: type[Base]) -> tuple[Any, Any, list[str]]:
    """The dialect's INSERT, the row's table and its primary key columns."""
    table: Any = row.__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert, table, [c.name for c in table.primary_key.columns]


async def insert_new(session: AsyncSession, row: type[Base], values: dict[str, Any]) -> bool:
    """Insert a row unless one with its primary key exists (another node may insert it at
    the same moment: INSERT ... ON CONFLICT DO NOTHING); returns whether it was inserted."""
    insert, table, keys = _insert(session, row)
    done = await session.execute(insert(table).values(**values)
                                 .on_conflict_do_nothing(index_elements=keys))  # fmt: skip
    return bool(done.rowcount)  # type: ignore[attr-defined]


UPSERT_CHUNK = 500
"""Rows per INSERT ... ON CONFLICT DO UPDATE statement (SQLite bounds its parameters)."""


async def upsert(session: AsyncSession, row: type[Base], values: list[dict[str, Any]]) -> None:
    """Insert rows, or update those whose primary key exists (ON CONFLICT DO UPDATE)."""
    insert, table, keys = _insert(session, row)
    for start in range(0, len(values), UPSERT_CHUNK):
        statement = insert(table).values(values[start : start + UPSERT_CHUNK])
        await session.execute(statement.on_conflict_do_update(
            index_elements=keys, set_={c.name: statement.excluded[c.name]
                                       for c in table.columns if c.name not in keys}))  # fmt: skip


def apply_change(row: Any, change: Any) -> None:
    """Set the fields a typed change object names (core.changes) on a row, and its `updated`."""
    for name, value in changed_fields(change).items():
        setattr(row, name, value)
    row.updated = time.time()
