"""Observe-Composite: an observation records its paths ('' for an Observe of one path). A
constant default lets SQLite add the column in place."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as observations:
        observations.add_column(sa.Column("paths", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("observations") as observations:
        observations.drop_column("paths")
