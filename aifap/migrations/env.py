"""Alembic environment: runs on the connection ``aifap.db.migrate`` hands over."""

from alembic import context
from sqlalchemy.engine import Connection

from aifap.db import Base, make_engine

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    with make_engine(config.attributes["url"]).begin() as conn:
        _run(conn)
