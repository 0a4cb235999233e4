"""Alembic's environment, for programmatic use: the caller (store.database) passes an open
connection in `config.attributes`. SQLite runs in batch mode: its ALTER TABLE cannot change or
drop most things, so such a change rebuilds the table."""

from alembic import context

from lwm2m_mlaas.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_server_default=True,
)
with context.begin_transaction():
    context.run_migrations()
