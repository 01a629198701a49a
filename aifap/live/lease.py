"""The one-account-one-session rule: a lease row per (account, symbol) in the results DB.

A session takes a lease on every symbol it trades before it starts and renews it
while it runs. Another session asking for any of those symbols on the same account
is refused with :class:`LeaseConflictError` until the lease expires. A restart of the
*same* session may take its own lease over once the previous run is gone (its pid
is dead on this host, or the lease expired).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Engine, Table

from aifap.core.errors import ConfigError
from aifap.live.models import LiveLease
from aifap.locks import TableLease


class LeaseConflictError(ConfigError):
    """Another session holds the account and symbols this session wants."""


class Lease:
    """The lease of one session run on an account's symbols (``aifap.locks.TableLease``).

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
        self.account_key = account_key
        self.symbols = tuple(sorted(symbols))
        self.session_id = session_id
        # only a restart of the same session takes over from its dead run
        self._rows = TableLease(
            engine,
            cast(Table, LiveLease.__table__),
            ttl_s=ttl_seconds,
            expires="expires_wall_ms",
            may_take_over=lambda row: row["session_id"] == session_id,
        )
        self.owner = self._rows.owner
        self._keys = [{"account_key": account_key, "symbol": s} for s in self.symbols]

    def acquire(self) -> None:
        """Take the lease on every symbol, or raise LeaseConflictError naming the holder."""
        holders = self._rows.acquire(self._keys, {"session_id": self.session_id})
        if holders:
            conflicts: dict[str, list[str]] = {}
            for row in holders:
                conflicts.setdefault(row["session_id"], []).append(row["symbol"])
            held = "; ".join(
                f"session {s!r} trades {', '.join(sorted(v))}" for s, v in sorted(conflicts.items())
            )
            raise LeaseConflictError(
                f"account {self.account_key}: one session per account and symbol, "
                f"but {held}; stop it first or pick other symbols"
            )

    def renew(self) -> bool:
        """Extend the lease; return False if another owner took it (then stop trading)."""
        return self._rows.renew(self._keys)

    def release(self) -> None:
        """Give the lease back (only the rows this run owns)."""
        self._rows.release(self._keys)
