"""A named lock in the market database, so overlapping collector runs never collide.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection held
for the lock's lifetime; the server frees it if the process dies. SQLite (no
advisory locks): a lease row in ``data_locks`` taken by one atomic upsert that only
succeeds when the row is absent, expired, or ours; the holder renews it
(:meth:`DataLock.renew`) and deletes it on release. A lease left by a crashed
process on this host is taken over at once (its process id is gone); one from
another host only when it expires.

Example::

    with data_lock(engine, "collect:bitget:futures") as lock:
        if not lock.acquired:
            print(f"another run holds it ({lock.holder})")
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 600.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def lock_key(name: str) -> int:
    """Return a signed 64-bit advisory-lock key for ``name`` (stable across processes)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_local_owner(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class DataLock:
    """The state of a lock attempt; ``acquired`` tells whether this process holds it."""

    engine: Engine
    name: str
    lease_s: float = DEFAULT_LEASE_S
    acquired: bool = False
    holder: str | None = None
    owner: str = field(default_factory=_owner)
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
        with self.engine.begin() as conn:
            row = conn.execute(
                text("SELECT owner FROM data_locks WHERE name = :name"), {"name": self.name}
            ).first()
            if row is not None and row[0] != self.owner and _dead_local_owner(row[0]):
                log.info("lock %s: taking over from dead process %s", self.name, row[0])
                conn.execute(
                    text("DELETE FROM data_locks WHERE name = :name AND owner = :owner"),
                    {"name": self.name, "owner": row[0]},
                )
        self.acquired = self._lease()
        return self.acquired

    def _lease(self) -> bool:
        now = _now_ms()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO data_locks (name, owner, expires_at) VALUES (:name, :owner, :exp) "
                    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                    "expires_at = excluded.expires_at "
                    "WHERE data_locks.expires_at < :now OR data_locks.owner = :owner"
                ),
                {
                    "name": self.name,
                    "owner": self.owner,
                    "exp": now + int(self.lease_s * 1000),
                    "now": now,
                },
            )
            holder = conn.execute(
                text("SELECT owner FROM data_locks WHERE name = :name"), {"name": self.name}
            ).scalar()
        self.holder = holder
        return holder == self.owner

    def renew(self) -> None:
        """Extend a SQLite lease (a no-op on PostgreSQL, whose lock lasts the session)."""
        if self.acquired and self._connection is None and not self._lease():
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
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM data_locks WHERE name = :name AND owner = :owner"),
                {"name": self.name, "owner": self.owner},
            )


@contextmanager
def data_lock(engine: Engine, name: str, *, lease_s: float = DEFAULT_LEASE_S) -> Iterator[DataLock]:
    """Try to take lock ``name`` for the ``with`` block; check ``.acquired``."""
    lock = DataLock(engine, name, lease_s=lease_s)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
