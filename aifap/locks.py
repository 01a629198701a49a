"""One lease in a database table: rows owned by one run until they expire.

A lease row holds a key (the table's primary key), an ``owner`` token
(``host:pid:random``, :func:`aifap.procs.owner_token`) and an expiry in wall-clock
epoch milliseconds. A run takes all the rows it asks for or none: a row is free when
it is absent, expired or already its own, or when its owner is a dead process on
this host and the caller allows the take-over (an owner on another host is waited
out until its lease expires). Each row is written by one conditional upsert, so two
runs racing for a row cannot both get it. The holder renews its rows while it works
and deletes them when it is done.

The collector's lock (``data_locks``) and the live sessions' one-account-one-session
rule (``live_leases``) are two tables over this one implementation. :class:`FileLock`
is the single-host kind: one process of several on a machine does a job.

Example::

    lease = TableLease(engine, data_locks_table, ttl_s=600)
    held_by_others = lease.acquire([{"name": "collect:bitget:futures:1m"}])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, RowMapping, Table, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from aifap.procs import owner_alive, owner_token

log = logging.getLogger(__name__)

Key = Mapping[str, Any]


def wall_ms() -> int:
    """Return the wall-clock time in epoch milliseconds (lease expiries use it)."""
    return time.time_ns() // 1_000_000


class _Lost(Exception):
    """A racing run took a row between the check and the write (rolls back)."""

    def __init__(self, holders: list[RowMapping]) -> None:
        super().__init__("lease taken by another run")
        self.holders = holders


class TableLease:
    """The lease rows of one run in one table.

    Args:
        engine: the database holding ``table``.
        table: the lease table: its primary key, an ``owner`` column and ``expires``.
        ttl_s: how long rows live without renewal (wall time).
        expires: the name of the expiry column (epoch milliseconds).
        owner: this run's owner token (default: a new one for this process).
        may_take_over: whether a row whose owner process is dead may be taken
            (default: always); rows of live owners wait for expiry either way.
    """

    def __init__(
        self,
        engine: Engine,
        table: Table,
        *,
        ttl_s: float,
        expires: str = "expires_at",
        owner: str | None = None,
        may_take_over: Callable[[RowMapping], bool] = lambda _row: True,
    ) -> None:
        self.engine = engine
        self.table = table
        self.ttl_ms = int(ttl_s * 1000)
        self.expires = table.c[expires]
        self.owner_column = table.c["owner"]
        self.owner = owner or owner_token()
        self.may_take_over = may_take_over
        self.key_names = [column.name for column in table.primary_key.columns]

    def _where(self, keys: Sequence[Key]) -> Any:
        return or_(*(and_(*(self.table.c[k] == key[k] for k in self.key_names)) for key in keys))

    def acquire(self, keys: Sequence[Key], values: Key | None = None) -> list[RowMapping]:
        """Take every row of ``keys`` (with ``values`` in its other columns), or none.

        Returns:
            The rows held by other runs: empty when this run now holds every key.
        """
        now = wall_ms()
        try:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(self.table).where(self._where(keys)).with_for_update()
                ).mappings()
                holders, dead = [], set()
                for row in rows:
                    if row[self.expires.name] <= now or row["owner"] == self.owner:
                        continue
                    if self.may_take_over(row) and owner_alive(row["owner"]) is False:
                        log.info("lease %s: taking over from dead process %s",
                                 self._name(row), row["owner"])
                        dead.add(row["owner"])
                        continue
                    holders.append(row)
                if holders:
                    return holders
                for key in keys:
                    self._upsert(conn, {**key, **(values or {})}, now, dead)
                lost = [
                    row
                    for row in conn.execute(select(self.table).where(self._where(keys))).mappings()
                    if row["owner"] != self.owner
                ]
                if lost:
                    raise _Lost(lost)
        except _Lost as raced:
            return raced.holders
        return []

    def _upsert(self, conn: Connection, row: dict[str, Any], now: int, dead: set[str]) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        values = {**row, "owner": self.owner, self.expires.name: now + self.ttl_ms}
        statement = dialect.insert(self.table).values(values)
        # only a free row is overwritten: a racing run's fresh row stays its own
        free = or_(self.expires <= now, self.owner_column.in_([self.owner, *sorted(dead)]))
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=self.key_names,
                set_={k: v for k, v in values.items() if k not in self.key_names},
                where=free,
            )
        )

    def renew(self, keys: Sequence[Key]) -> bool:
        """Extend the rows of ``keys``; return False (and change nothing) if any is not ours."""
        try:
            with self.engine.begin() as conn:
                renewed = conn.execute(
                    update(self.table)
                    .where(self._where(keys), self.owner_column == self.owner)
                    .values({self.expires.name: wall_ms() + self.ttl_ms})
                ).rowcount
                if renewed != len(keys):
                    raise _Lost([])
        except _Lost:
            return False
        return True

    def rows(self, keys: Sequence[Key]) -> list[RowMapping]:
        """Return the current rows of ``keys`` (whoever holds them)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(self.table).where(self._where(keys))).mappings())

    def release(self, keys: Sequence[Key]) -> None:
        """Delete the rows of ``keys`` that this run owns."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(self.table).where(self._where(keys), self.owner_column == self.owner)
            )

    def _name(self, row: RowMapping) -> str:
        return ":".join(str(row[k]) for k in self.key_names)


class FileLock:
    """An exclusive, non-blocking lock on a file, held until released or the process ends.

    For "one of these processes does it" on one host (the platform API's workers: one
    runs the risk loop). The kernel drops the lock when its holder dies, so a crashed
    holder never blocks the others.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free (or already ours); return whether we hold it."""
        import fcntl

        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        """Let the lock go (closing the file unlocks it)."""
        if self._file is not None:
            self._file.close()
            self._file = None
