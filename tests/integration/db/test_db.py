from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from aifap.db import Amount, database_url, make_engine, migrate
from aifap.redaction import redact_url
from aifap.settings import get_settings


def test_amounts_are_exact_on_both_backends(db_url):
    metadata = MetaData()
    table = Table(
        "amounts", metadata, Column("id", Integer, primary_key=True), Column("v", Amount())
    )
    engine = make_engine(db_url)
    metadata.create_all(engine)
    values = [Decimal("0.1"), Decimal("87200.000000000000000001"), Decimal("-0.0001394625")]
    with engine.begin() as conn:
        conn.execute(insert(table), [{"v": v} for v in values])
        stored = conn.execute(select(table.c.v).order_by(table.c.id)).scalars().all()
    assert stored == values
    assert sum(stored) == sum(values)


def test_non_finite_amounts_are_refused(db_url):
    metadata = MetaData()
    table = Table(
        "amounts", metadata, Column("id", Integer, primary_key=True), Column("v", Amount())
    )
    engine = make_engine(db_url)
    metadata.create_all(engine)
    with pytest.raises(Exception, match="amount must be finite"), engine.begin() as conn:
        conn.execute(insert(table), [{"v": Decimal("NaN")}])


def test_migrations_reach_every_head_and_are_idempotent(db_url):
    migrate(db_url)
    migrate(db_url)
    with make_engine(db_url).connect() as conn:
        versions = {
            row[0] for row in conn.exec_driver_sql("select version_num from alembic_version")
        }
    assert versions
    assert "0001" not in versions or len(versions) == 1


def test_database_urls_fall_back_to_sqlite_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AIFAP_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert database_url("market") == f"sqlite:///{tmp_path / 'aifap.db'}"
    monkeypatch.setenv("AIFAP_DATABASE_URL", "postgresql://u:hunter2@db/aifap")
    monkeypatch.setenv("AIFAP_RESULTS_DATABASE_URL", "postgresql://u:hunter2@db/results")
    get_settings.cache_clear()
    assert database_url("market") == "postgresql://u:hunter2@db/aifap"
    assert database_url("results").endswith("/results")
    assert "hunter2" not in redact_url(database_url("results"))
    assert "hunter2" not in repr(get_settings())
