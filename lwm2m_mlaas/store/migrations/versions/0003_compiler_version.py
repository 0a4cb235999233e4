"""Compiler versions up to 64 characters (36535fa). SQLite rebuilds both tables."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("artifacts", "compiles")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("compiler_version", type_=sa.String(64),
                               existing_type=sa.String(32), existing_nullable=False)  # fmt: skip


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("compiler_version", type_=sa.String(32),
                               existing_type=sa.String(64), existing_nullable=False)  # fmt: skip
