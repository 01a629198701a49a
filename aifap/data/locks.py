"""A named lock in the market database, so overlapping collector runs never collide.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection held
for the lock's lifetime; the server frees it if the process dies. SQLite (no
advisory locks): a lease row in ``data_locks`` (:class:`aifap.locks.TableLease`,
the lease the live sessions use too) that only succeeds when the row is absent,
expired, or ours; the holder renews it (:meth:`DataLock.renew`) and deletes it on
release. A lease left by a crashed process on this host is taken over at once (its
process is gone); one from another host only when it expires.

Example::

    with data_lock(engine, "collect:bitget:futures") as lock:
        if not lock.acquired:
            print(f"another run holds it ({lock.holder})")
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Engine, Table, text

from aifap.data.models import DataLock as DataLockRow
from aifap.locks import TableLease
from aifap.procs import owner_token

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 600.0


def lock_key(name: str) -> int:
    """Return a signed 64-bit advisory-lock key for ``name`` (stable across processes)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class DataLock:
    """The state of a lock attempt; ``acquired`` tells whether this process holds it."""

    engine: Engine
    name: str
    lease_s: float = DEFAULT_LEASE_S
    acquired: bool = False
    holder: str | None = None
    owner: str = field(default_factory=owner_token)
    _connection: Any = None

    def acquire(self) -> bool:
        """Try once to take the lock; return whether it is now held."""
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.name)}
            ).scalar()
            connection.commit()
            if got:
                self._connection = connection
            else:
                connection.close()
                self.holder = "another session (PostgreSQL advisory lock)"
            self.acquired = bool(got)
            return self.acquired
        holders = self._rows().acquire([{"name": self.name}])
        self.holder = holders[0]["owner"] if holders else self.owner
        self.acquired = not holders
        return self.acquired

    def _rows(self) -> TableLease:
        return TableLease(
            self.engine, cast(Table, DataLockRow.__table__), ttl_s=self.lease_s, owner=self.owner
        )

    def renew(self) -> None:
        """Extend a SQLite lease (a no-op on PostgreSQL, whose lock lasts the session)."""
        rows = self._rows()
        if self.acquired and self._connection is None and not rows.renew([{"name": self.name}]):
            current = rows.rows([{"name": self.name}])
            self.holder = current[0]["owner"] if current else None
            raise RuntimeError(f"lock {self.name}: lease was taken over by {self.holder}")

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        if not self.acquired:
            return
        self.acquired = False
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self.name)}
                )
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
            return
        self._rows().release([{"name": self.name}])


@contextmanager
def data_lock(engine: Engine, name: str, *, lease_s: float = DEFAULT_LEASE_S) -> Iterator[DataLock]:
    """Try to take lock ``name`` for the ``with`` block; check ``.acquired``."""
    lock = DataLock(engine, name, lease_s=lease_s)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
