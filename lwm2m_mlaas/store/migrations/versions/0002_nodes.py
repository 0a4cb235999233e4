"""Several nodes on one database (7ecfadb): registrations and deliveries record their node, nodes
their REST token. Rows already there get '' (registrations, nodes) or NULL (deliveries); a constant
default lets SQLite add the columns in place (an expression would rebuild the tables)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as registrations:
        registrations.add_column(
            sa.Column("node", sa.String(128), server_default="", nullable=False))
        registrations.create_index("ix_registrations_node", ["node"])
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("node", sa.String(128), nullable=True))
        deliveries.create_index("ix_deliveries_updated", ["updated"])
    with op.batch_alter_table("nodes") as nodes:
        nodes.add_column(
            sa.Column("api_token", sa.String(128), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as nodes:
        nodes.drop_column("api_token")
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.drop_index("ix_deliveries_updated")
        deliveries.drop_column("node")
    with op.batch_alter_table("registrations") as registrations:
        registrations.drop_index("ix_registrations_node")
        registrations.drop_column("node")
