"""Send (/dp): the last value of each path each device sent is kept in the database."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_values",
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("path", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "path"),
    )


def downgrade() -> None:
    op.drop_table("sent_values")
