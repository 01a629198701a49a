"""Exchange keys: encrypted at rest, never in an answer, a log line, the audit log or a
session's config file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from aifap.api.launch import account_environment, session_config
from aifap.api.models import ExchangeAccount, Trader
from aifap.api.vault import decrypt
from aifap.db import make_engine, session_factory
from aifap.live.config import dump_config


@pytest.fixture
def secrets(account_keys):
    return [value for triple in account_keys.values() for value in triple]


def every_platform_value(url: str) -> list[str]:
    """Return every value of every platform table's rows, as text."""
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    values = []
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name.startswith("platform_"):
                for row in conn.execute(select(table)):
                    values += [str(v) for v in row]
    return values


def test_account_rows_hold_ciphertext_that_decrypts_to_the_keys(org, secrets, account_keys):
    values = every_platform_value(org.db_url)
    assert values
    for secret in secrets:
        assert not any(secret in v for v in values), "a key is stored in clear text"
    with session_factory(make_engine(org.db_url))() as db:
        account = db.get(ExchangeAccount, org.accounts["a"])
    assert decrypt(account.api_key_enc) == account_keys["a"][0]
    assert decrypt(account.secret_enc) == account_keys["a"][1]
    assert decrypt(account.passphrase_enc) == account_keys["a"][2]


def _raw_database_bytes(url: str, request: pytest.FixtureRequest) -> bytes:
    """Return the database's bytes on disk: the SQLite file(s), or PostgreSQL's heap and WAL
    files after a CHECKPOINT (so the rows written are on disk, not only in shared buffers)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    with make_engine(url).connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
    datadir = request.getfixturevalue("pg_server").datadir
    files = [p for d in ("base", "pg_wal") for p in (datadir / d).rglob("*") if p.is_file()]
    return b"".join(p.read_bytes() for p in files)


def test_the_database_files_hold_no_key_anywhere(org, secrets, request):
    raw = _raw_database_bytes(org.db_url, request)
    assert b"manager_a" in raw  # the rows are in what was read (a username is stored as is)
    for secret in secrets:
        assert secret.encode() not in raw


@pytest.mark.parametrize("role", ["supervisor", "manager", "viewer_all"])
def test_no_answer_carries_a_key(org, role, caplog, secrets):
    caplog.set_level(logging.DEBUG)
    made = org.call(
        role, "POST", "/accounts",
        json={"venue": "bitget", "api_key": "NEW-KEY-1234567", "secret": "NEW-SECRET-7654321",
              "passphrase": "NEW-PASS-999", "manager_id": org.managers["a"]},
    )  # fmt: skip
    answers = [
        made,
        org.call(role, "GET", "/accounts"),
        org.call(role, "GET", f"/accounts/{org.accounts['a']}"),
        org.call(role, "GET", "/traders"),
        org.call(role, "GET", f"/traders/{org.traders['a']}"),
        org.call(role, "GET", "/managers"),
    ]
    secrets = [*secrets, "NEW-KEY-1234567", "NEW-SECRET-7654321", "NEW-PASS-999"]
    for answer in answers:
        for secret in secrets:
            assert secret not in answer.text
    if made.status_code == 201:
        assert set(made.json()) == {
            "id", "manager_id", "venue", "market", "demo", "gateway_url", "gateway_account",
            "created",
        }  # fmt: skip
        assert made.json()["gateway_url"] is None
    for secret in secrets:
        assert secret not in caplog.text
    assert not any(secret in v for v in every_platform_value(org.db_url) for secret in secrets)


def test_a_session_config_names_the_key_variables_and_never_the_keys(
    org, tmp_path, secrets, account_keys
):
    with session_factory(make_engine(org.db_url))() as db:
        trader = db.get(Trader, org.traders["a"])
        account = db.get(ExchangeAccount, org.accounts["a"])
    config = session_config(
        trader, account, owner="manager_a", results_url=org.db_url, workdir=tmp_path
    )
    text = dump_config(config, tmp_path / "session.yaml").read_text()
    for secret in secrets:
        assert secret not in text
    assert "AIFAP_ACCOUNT_API_KEY" in text
    env = account_environment(account)
    assert env["AIFAP_ACCOUNT_API_KEY"] == account_keys["a"][0]
    assert env["AIFAP_ACCOUNT_PASSPHRASE"] == account_keys["a"][2]
