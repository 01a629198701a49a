"""The one process-alive check (zombies are dead) and the one database lease."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil
import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, text

from aifap.db import make_engine, migrate
from aifap.live.lease import Lease, LeaseConflictError
from aifap.locks import TableLease
from aifap.procs import owner_alive, owner_token, pid_alive, process_alive

DEAD_HERE = f"{socket.gethostname()}:999999999:dead"


def test_this_process_is_alive_and_no_pid_is_not():
    assert pid_alive(os.getpid())
    assert process_alive(psutil.Process())
    assert not pid_alive(None)
    assert not pid_alive(0)
    assert not pid_alive(999_999_999)
    assert not process_alive(None)


def test_an_unreaped_child_is_a_zombie_and_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not pid_alive(child.pid)
    child.wait()


def test_an_owner_token_tells_alive_dead_or_unknown_by_host():
    token = owner_token()
    assert len(token) <= 64
    assert owner_alive(token) is True
    assert owner_alive(DEAD_HERE) is False
    assert owner_alive("elsewhere:1:x") is None
    assert owner_alive("not-a-token") is None


@pytest.fixture
def table_engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'locks.db'}")
    table = Table(
        "locks",
        MetaData(),
        Column("name", String(64), primary_key=True),
        Column("owner", String(64), nullable=False),
        Column("tag", String(16), nullable=True),
        Column("expires_at", BigInteger, nullable=False),
    )
    table.metadata.create_all(engine)
    return table, engine


def _insert(engine, name, owner, expires_at, tag=None):
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO locks VALUES (:n, :o, :t, :e)"),
            {"n": name, "o": owner, "t": tag, "e": expires_at},
        )


def test_a_lease_takes_every_row_or_none(table_engine):
    table, engine = table_engine
    first, second = TableLease(engine, table, ttl_s=60), TableLease(engine, table, ttl_s=60)
    assert first.acquire([{"name": "a"}, {"name": "b"}], {"tag": "one"}) == []
    holders = second.acquire([{"name": "b"}, {"name": "c"}])
    assert [(row["name"], row["owner"], row["tag"]) for row in holders] == [
        ("b", first.owner, "one")
    ]
    assert [row["name"] for row in first.rows([{"name": "c"}])] == []  # nothing half-taken
    assert first.renew([{"name": "a"}, {"name": "b"}])
    assert not second.renew([{"name": "b"}])
    second.release([{"name": "b"}])  # not its own: stays
    assert second.acquire([{"name": "b"}]) != []
    first.release([{"name": "a"}, {"name": "b"}])
    assert second.acquire([{"name": "b"}, {"name": "c"}]) == []


def test_expired_and_dead_owner_rows_are_taken_over_live_ones_wait(table_engine):
    table, engine = table_engine
    far = 2**60
    _insert(engine, "expired", "elsewhere:1:x", 0)
    _insert(engine, "dead", DEAD_HERE, far)
    _insert(engine, "elsewhere", "elsewhere:1:x", far)
    _insert(engine, "dead-but-refused", DEAD_HERE, far, tag="other")
    lease = TableLease(
        engine, table, ttl_s=60, may_take_over=lambda row: row["tag"] != "other"
    )
    assert lease.acquire([{"name": "expired"}, {"name": "dead"}]) == []
    assert [row["owner"] for row in lease.acquire([{"name": "elsewhere"}])] == ["elsewhere:1:x"]
    assert [row["owner"] for row in lease.acquire([{"name": "dead-but-refused"}])] == [DEAD_HERE]
    # the run that lost its rows learns it on renewal
    assert not TableLease(engine, table, ttl_s=60, owner=DEAD_HERE).renew([{"name": "dead"}])


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    migrate(url)
    return make_engine(url)


def test_a_restarted_session_takes_over_its_dead_run_and_no_other_session_does(engine):
    account = "paper:paper:futures:acct"
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO live_leases VALUES (:a, 'BTCUSDT', 'one', :o, :e)"),
            {"a": account, "o": DEAD_HERE, "e": 2**60},
        )
    with pytest.raises(LeaseConflictError, match="session 'one' trades BTCUSDT"):
        Lease(engine, account, ["BTCUSDT"], "two").acquire()
    restarted = Lease(engine, account, ["BTCUSDT", "ETHUSDT"], "one")
    restarted.acquire()
    assert restarted.renew()
    restarted.release()
    Lease(engine, account, ["BTCUSDT"], "two").acquire()
