"""The one-account-one-session rule: a lease row per (account, symbol) in the results DB.

A session takes a lease on every symbol it trades before it starts and renews it
while it runs. Another session asking for any of those symbols on the same account
is refused with :class:`LeaseConflictError` until the lease expires. A restart of the
*same* session may take its own lease over once the previous run is gone (its pid
is dead on this host, or the lease expired).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, select

from aifap.core.errors import ConfigError
from aifap.db import session_factory
from aifap.live.models import LiveLease


class LeaseConflictError(ConfigError):
    """Another session holds the account and symbols this session wants."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # cannot tell for another host: wait for the lease to expire
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """The lease of one session run on an account's symbols.

    Args:
        engine: the results database.
        account_key: exchange, mode, market type and account label.
        symbols: the symbols the session trades.
        session_id: the session taking the lease.
        ttl_seconds: how long a lease lives without renewal (wall time).
    """

    def __init__(
        self,
        engine: Engine,
        account_key: str,
        symbols: Sequence[str],
        session_id: str,
        ttl_seconds: float = 60.0,
    ) -> None:
        self._db = session_factory(engine)
        self.account_key = account_key
        self.symbols = tuple(sorted(symbols))
        self.session_id = session_id
        self.ttl_ms = int(ttl_seconds * 1000)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:64]

    def acquire(self) -> None:
        """Take the lease on every symbol, or raise LeaseConflictError naming the holder."""
        now = _wall_ms()
        with self._db.begin() as db:
            rows = list(
                db.scalars(
                    select(LiveLease)
                    .where(
                        LiveLease.account_key == self.account_key,
                        LiveLease.symbol.in_(self.symbols),
                    )
                    .with_for_update()
                )
            )
            conflicts: dict[str, list[str]] = {}
            for row in rows:
                if row.expires_wall_ms <= now:
                    continue
                if row.session_id == self.session_id and not _owner_alive(row.owner):
                    continue
                if row.session_id == self.session_id and row.owner == self.owner:
                    continue
                conflicts.setdefault(row.session_id, []).append(row.symbol)
            if conflicts:
                held = "; ".join(
                    f"session {s!r} trades {', '.join(sorted(v))}"
                    for s, v in sorted(conflicts.items())
                )
                raise LeaseConflictError(
                    f"account {self.account_key}: one session per account and symbol, "
                    f"but {held}; stop it first or pick other symbols"
                )
            existing = {row.symbol: row for row in rows}
            for symbol in self.symbols:
                row = existing.get(symbol)
                if row is None:
                    db.add(
                        LiveLease(
                            account_key=self.account_key,
                            symbol=symbol,
                            session_id=self.session_id,
                            owner=self.owner,
                            expires_wall_ms=now + self.ttl_ms,
                        )
                    )
                else:
                    row.session_id = self.session_id
                    row.owner = self.owner
                    row.expires_wall_ms = now + self.ttl_ms

    def renew(self) -> bool:
        """Extend the lease; return False if another owner took it (then stop trading)."""
        now = _wall_ms()
        with self._db.begin() as db:
            rows = list(
                db.scalars(
                    select(LiveLease).where(
                        LiveLease.account_key == self.account_key,
                        LiveLease.symbol.in_(self.symbols),
                    )
                )
            )
            if len(rows) != len(self.symbols) or any(r.owner != self.owner for r in rows):
                return False
            for row in rows:
                row.expires_wall_ms = now + self.ttl_ms
        return True

    def release(self) -> None:
        """Give the lease back (only the rows this run owns)."""
        with self._db.begin() as db:
            db.execute(
                delete(LiveLease).where(
                    LiveLease.account_key == self.account_key,
                    LiveLease.symbol.in_(self.symbols),
                    LiveLease.owner == self.owner,
                )
            )
