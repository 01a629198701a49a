"""The collector's database lock on SQLite (lease row) and PostgreSQL (advisory lock)."""

from __future__ import annotations

from sqlalchemy import text

from aifap.data.locks import DataLock, data_lock
from aifap.data.series import ensure_schema


def test_a_held_lock_refuses_a_second_holder_until_released(db_url):
    engine = ensure_schema(db_url)
    with data_lock(engine, "collect:bitget:futures:1m") as first:
        assert first.acquired
        with data_lock(engine, "collect:bitget:futures:1m") as second:
            assert not second.acquired
            assert second.holder
        with data_lock(engine, "collect:bitget:futures:5m") as other:
            assert other.acquired
        first.renew()
    with data_lock(engine, "collect:bitget:futures:1m") as again:
        assert again.acquired


def test_sqlite_lease_of_a_dead_process_or_an_expired_one_is_taken_over(tmp_path):
    engine = ensure_schema(f"sqlite:///{tmp_path / 'm.db'}")
    import socket

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO data_locks VALUES ('dead', :owner, :far)"),
                     {"owner": f"{socket.gethostname()}:999999999:abcd", "far": 2**60})
        conn.execute(text("INSERT INTO data_locks VALUES ('expired', 'elsewhere:1:x', 0)"))
        conn.execute(text("INSERT INTO data_locks VALUES ('busy', 'elsewhere:1:x', :far)"),
                     {"far": 2**60})
    assert DataLock(engine, "dead").acquire()
    assert DataLock(engine, "expired").acquire()
    busy = DataLock(engine, "busy")
    assert not busy.acquire()
    assert busy.holder == "elsewhere:1:x"
