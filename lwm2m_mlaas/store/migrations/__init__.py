"""The store's schema migrations (Alembic), run by `Store.start()`; env.py takes its connection
from the caller, so no alembic.ini. After a change to tables.py, a new revision is generated
against a database at head and then tidied:

    with sqlalchemy.create_engine(url).begin() as connection:
        alembic.command.revision(alembic_config(connection), "what changed",
                                 autogenerate=True, rev_id="0003")
"""
