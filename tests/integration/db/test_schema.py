"""The Alembic migrations create exactly the tables the models declare."""

import importlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from aifap.db import Base, make_engine, migrate

MODEL_MODULES = (
    "aifap.data.models",
    "aifap.exchange.paper.models",
    "aifap.alerts.outbox",
    "aifap.live.models",
    "aifap.watch.models",
    "aifap.api.models",
    "aifap.exchange.remote.store",
)


def test_migrations_match_the_models(db_url):
    for name in MODEL_MODULES:
        importlib.import_module(name)
    migrate(db_url)
    with make_engine(db_url).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
    assert {"ohlcv_series", "paper_accounts", "live_orders", "watch_snapshots"} <= set(
        Base.metadata.tables
    )
