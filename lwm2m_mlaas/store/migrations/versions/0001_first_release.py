"""The schema of the first release (bd6ec63), as its create_all made it: a database made before
migrations is stamped at this revision."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("device_class", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("compiler_version", sa.String(length=32), nullable=False),
        sa.Column("arena_bytes", sa.Integer(), nullable=False),
        sa.Column("model_bytes", sa.Integer(), nullable=False),
        sa.Column("package_bytes", sa.Integer(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_artifacts_device_class"), "artifacts", ["device_class"], unique=False)
    op.create_index(op.f("ix_artifacts_task"), "artifacts", ["task"], unique=False)
    op.create_table(
        "assignments",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "value"),
    )
    op.create_table(
        "bootstrap_configs",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("identity", sa.String(length=128), nullable=True),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("last_bootstrap", sa.Float(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_index(
        op.f("ix_bootstrap_configs_identity"), "bootstrap_configs", ["identity"], unique=True
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("device_class", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=False),
        sa.Column("result", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deliveries_endpoint"), "deliveries", ["endpoint"], unique=False)
    op.create_index(op.f("ix_deliveries_state"), "deliveries", ["state"], unique=False)
    op.create_table(
        "device_runtimes",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("runtimes", sa.JSON(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_table(
        "device_trust",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("key_ids", sa.JSON(), nullable=False),
        sa.Column("reported", sa.Boolean(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_table(
        "devices",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("device_class", sa.String(length=64), nullable=True),
        sa.Column("task", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_index(op.f("ix_devices_device_class"), "devices", ["device_class"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(op.f("ix_leases_holder"), "leases", ["holder"], unique=False)
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("coap_uri", sa.String(length=255), nullable=False),
        sa.Column("coaps_uri", sa.String(length=255), nullable=False),
        sa.Column("api_url", sa.String(length=255), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("heartbeat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_nodes_heartbeat"), "nodes", ["heartbeat"], unique=False)
    op.create_table(
        "oscore_security",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("sender_id", sa.LargeBinary(), nullable=False),
        sa.Column("recipient_id", sa.LargeBinary(), nullable=False),
        sa.Column("master_secret", sa.LargeBinary(), nullable=False),
        sa.Column("master_salt", sa.LargeBinary(), nullable=False),
        sa.Column("aead", sa.Integer(), nullable=False),
        sa.Column("hkdf", sa.Integer(), nullable=False),
        sa.Column("sequence_reserved", sa.Integer(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_index(
        op.f("ix_oscore_security_recipient_id"), "oscore_security", ["recipient_id"], unique=True
    )
    op.create_table(
        "queued_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("response_payload", sa.LargeBinary(), nullable=True),
        sa.Column("response_format", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("completed", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_queued_requests_endpoint"), "queued_requests", ["endpoint"], unique=False
    )
    op.create_index(op.f("ix_queued_requests_status"), "queued_requests", ["status"], unique=False)
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("lifetime", sa.Integer(), nullable=False),
        sa.Column("lwm2m_version", sa.String(length=8), nullable=False),
        sa.Column("binding", sa.String(length=8), nullable=False),
        sa.Column("queue_mode", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.String(length=64), nullable=True),
        sa.Column("secure", sa.Boolean(), nullable=False),
        sa.Column("object_links", sa.Text(), nullable=False),
        sa.Column("additional_attributes", sa.JSON(), nullable=False),
        sa.Column("registration_date", sa.Float(), nullable=False),
        sa.Column("last_update", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_registrations_endpoint"), "registrations", ["endpoint"], unique=True)
    op.create_index(
        op.f("ix_registrations_expires_at"), "registrations", ["expires_at"], unique=False
    )
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("selector", sa.JSON(), nullable=False),
        sa.Column("waves", sa.JSON(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("counted_from", sa.Float(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_rollouts_state"), "rollouts", ["state"], unique=False)
    op.create_table(
        "security",
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("identity", sa.String(length=128), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )
    op.create_index(op.f("ix_security_identity"), "security", ["identity"], unique=True)
    op.create_table(
        "signed_packages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("artifact_id", "key_id"),
    )
    op.create_index(
        op.f("ix_signed_packages_artifact_id"), "signed_packages", ["artifact_id"], unique=False
    )
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("retired", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "compiles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("device_class", sa.String(length=64), nullable=False),
        sa.Column("compiler_version", sa.String(length=32), nullable=False),
        sa.Column("artifact_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_compiles_task"), "compiles", ["task"], unique=False)
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=32), nullable=False),
        sa.Column("content_format", sa.Integer(), nullable=True),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_observations_registration_id"), "observations", ["registration_id"], unique=False
    )
    op.create_table(
        "rollout_members",
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("device_class", sa.String(length=64), nullable=True),
        sa.Column("artifact_id", sa.String(length=64), nullable=True),
        sa.Column("previous_artifact_id", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("finished", sa.Float(), nullable=True),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rollout_id", "endpoint"),
    )
    op.create_index(
        op.f("ix_rollout_members_endpoint"), "rollout_members", ["endpoint"], unique=False
    )
    op.create_index(op.f("ix_rollout_members_state"), "rollout_members", ["state"], unique=False)


def downgrade() -> None:
    for table in (  # referring tables first
        "rollout_members", "observations", "compiles", "signing_keys", "signed_packages",
        "security", "rollouts", "registrations", "queued_requests", "oscore_security",
        "nodes", "leases", "devices", "device_trust", "device_runtimes", "deliveries",
        "bootstrap_configs", "assignments", "artifacts",
    ):
        op.drop_table(table)
