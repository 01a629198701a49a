"""The Alembic migrations create exactly the tables the models declare."""

import importlib

import pytest
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


def test_gateway_accounts_migration_keeps_accounts_and_their_traders(db_url):
    """platform_0002 on a database with a keyed account and a trader on it (SQLite rebuilds
    the table that ``platform_traders`` points at): rows and links survive, the new
    columns are empty, and keys-or-gateway is enforced from then on."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from aifap.db import alembic_config

    engine = make_engine(db_url)
    with engine.begin() as conn:
        config = alembic_config(db_url)
        config.attributes["connection"] = conn
        command.upgrade(config, "platform_0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO platform_users (id, username, password_hash, role, active,"
            " failed_logins, created_ms) VALUES (1, 'm', 'h', 'manager', true, 0, 0)"
        ))
        conn.execute(text(
            "INSERT INTO platform_managers (id, user_id, budget, on_breach, created_ms)"
            " VALUES (1, 1, '100', 'freeze', 0)"
        ))
        conn.execute(text(
            "INSERT INTO platform_accounts (id, manager_id, venue, market, demo, api_key_enc,"
            " secret_enc, passphrase_enc, created_ms)"
            " VALUES (5, 1, 'bitget', 'futures', true, 'ck', 'cs', NULL, 0)"
        ))
        conn.execute(text(
            "INSERT INTO platform_traders (id, manager_id, name, strategy, config_json,"
            " session_json, account_id, symbols_json, allocation, rebalance_every,"
            " alert_channel, state, session_id, created_ms) VALUES (9, 1, 't', 's.py', '{}',"
            " '{}', 5, '[\"BTCUSDT\"]', '10', '5m', 'console', 'stopped', 'trader-9-x', 0)"
        ))  # fmt: skip
    migrate(db_url)
    with engine.connect() as conn:
        account = conn.execute(text(
            "SELECT api_key_enc, secret_enc, gateway_url, gateway_account"
            " FROM platform_accounts WHERE id = 5"
        )).one()  # fmt: skip
        linked = conn.execute(text("SELECT account_id FROM platform_traders")).scalars().all()
    assert tuple(account) == ("ck", "cs", None, None)
    assert linked == [5]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO platform_accounts (manager_id, venue, market, demo, gateway_url,"
            " gateway_account, created_ms) VALUES (1, 'bitget', 'futures', true,"
            " 'http://gw:8920', 'acct-1', 0)"
        ))  # fmt: skip
    for values in ("'ck', 'cs', 'http://gw:8920', 'a'", "NULL, NULL, NULL, NULL"):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO platform_accounts (manager_id, venue, market, demo, api_key_enc,"
                f" secret_enc, gateway_url, gateway_account, created_ms) VALUES (1, 'bitget',"
                f" 'futures', true, {values}, 0)"
            ))  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the link is still checked
        conn.execute(text("UPDATE platform_traders SET account_id = 999"))

    def downgrade() -> None:
        with engine.begin() as conn:
            config = alembic_config(db_url)
            config.attributes["connection"] = conn
            command.downgrade(config, "platform_0001")

    with pytest.raises(RuntimeError, match="gateway accounts must be deleted"):
        downgrade()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM platform_accounts WHERE gateway_url IS NOT NULL"))
    downgrade()
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT id, api_key_enc FROM platform_accounts")).all()
        columns = conn.execute(text("SELECT * FROM platform_accounts")).keys()
    assert [tuple(r) for r in kept] == [(5, "ck")]
    assert "gateway_url" not in columns
