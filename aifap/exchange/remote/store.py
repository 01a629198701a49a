"""The gateway service's memory of orders by client id, so a re-send is never a new order.

Each client id the service sends is recorded ``sent`` before its request leaves and
``done`` with the order the exchange returned (JSON) after. A re-sent client id that
is ``done`` gets the stored order back; one left ``sent`` (the service died in
between) is looked up at the exchange before anything is sent again. The table lives
in the service's database (SQLite by default, PostgreSQL via a URL), so a restart
keeps it.

Claiming is one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statement: of two
requests claiming one client id at once (two threads, two services on one database)
exactly one gets it, the other finds it known; no unique-key error reaches a caller.
Answers are one upsert. On PostgreSQL the answers commit with ``synchronous_commit``
off (an answer lost in a database crash leaves its id ``sent``: looked up, never
re-sent); a claim always commits durably, before the exchange sees its id.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, String, Text, TextClause, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from aifap.db import Base, make_engine, migrate, session_factory

SENT, DONE = "sent", "done"


class GatewayOrder(Base):
    """One client id the gateway service sent for an account, and what came back."""

    __tablename__ = "gateway_orders"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class OrderMemory:
    """The ``gateway_orders`` rows of one account.

    Args:
        url: the service's database URL (migrated on open).
        account: the account name the rows belong to.
    """

    def __init__(self, url: str, account: str) -> None:
        migrate(url)
        self.account = account
        # connections kept open: a transaction does not pay a connect and a WAL checkpoint
        self._engine = make_engine(url, pooled=True)
        self._sessions = session_factory(self._engine)
        self._postgres = self._engine.dialect.name == "postgresql"
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps
        # in steps of up to 100 ms (its busy handler): the claim of the next batch would
        # wait out the recording of the last one that way. A lock of this process wakes it
        # as soon as the other write commits. PostgreSQL locks rows: no wait to avoid.
        self._writing: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if self._postgres else threading.Lock()
        )

    def warm(self, batch_size: int) -> None:
        """Open the connection and run the claim and the upsert once per batch size, undone.

        The first write on a connection sets up its WAL access: the first batch of
        orders should not pay for it. Nothing is left in the table.
        """
        with self._writing, self._engine.connect() as connection:
            for n in range(1, batch_size + 1):
                ids = [f"-warm-{k}" for k in range(n)]
                connection.execute(_claim_sql(n), self._params(ids, SENT, [None] * n, 0))
                connection.execute(_upsert_sql(n), self._params(ids, DONE, [None] * n, 0))
            connection.rollback()

    def _params(self, ids: list[str], state: str, data: list[Any], now: int) -> dict[str, Any]:
        """Return the bound values of ``_claim_sql`` / ``_upsert_sql`` for these rows."""
        params: dict[str, Any] = {"account": self.account, "state": state, "now": now}
        for k, (client_id, value) in enumerate(zip(ids, data, strict=True)):
            params[f"c{k}"] = client_id
            params[f"r{k}"] = None if value is None else json.dumps(value, sort_keys=True)
        return params

    def known(self, client_ids: Iterable[str]) -> dict[str, tuple[str, Any]]:
        """Return ``{client_id: (state, result JSON data or None)}`` for the known ids."""
        ids = list(client_ids)
        if not ids:
            return {}
        with self._sessions() as db:
            return self._known(db, ids)

    def _known(self, db: Session, ids: list[str]) -> dict[str, tuple[str, Any]]:
        rows = db.scalars(
            select(GatewayOrder).where(
                GatewayOrder.account == self.account, GatewayOrder.client_id.in_(ids)
            )
        )
        return {
            r.client_id: (r.state, None if r.result is None else json.loads(r.result)) for r in rows
        }

    def claim(self, client_ids: Iterable[str]) -> dict[str, tuple[str, Any]]:
        """Record the unknown ids ``sent``; return what ``known`` returns for the others.

        One statement (and a read of the ids another request holds, if any) and one
        commit. The caller sends the ids it claimed next (and looks the known ``sent``
        ones up at the exchange first): once this returns, a crash never sends them again.
        """
        ids = list(dict.fromkeys(client_ids))
        if not ids:
            return {}
        params = self._params(ids, SENT, [None] * len(ids), int(time.time() * 1000))
        with self._writing, self._sessions.begin() as db:
            claimed = set(db.scalars(_claim_sql(len(ids)), params))
            others = [c for c in ids if c not in claimed]
            return self._known(db, others) if others else {}

    def record(self, results: dict[str, Any]) -> None:
        """Record what the exchange returned for each client id (JSON-ready data)."""
        self._write(DONE, results, durable=False)

    def mark_sent(self, client_ids: Iterable[str]) -> None:
        """Record that requests for ``client_ids`` are about to leave."""
        self._write(SENT, dict.fromkeys(client_ids))

    def _write(self, state: str, rows: dict[str, Any], *, durable: bool = True) -> None:
        """Upsert ``rows`` (client id: result) in ``state``: one statement, one commit."""
        if not rows:
            return
        params = self._params(list(rows), state, list(rows.values()), int(time.time() * 1000))
        with self._writing, self._engine.begin() as connection:
            if self._postgres and not durable:
                connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
            connection.execute(_upsert_sql(len(rows)), params)

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()


# One SQL text per row count (SQLAlchemy caches each compiled): a multi-row ``insert()``
# construct is compiled anew on every call, which costs more than the database does.
# The ``ON CONFLICT`` clauses read the same in SQLite and PostgreSQL.
_COLUMNS = "INSERT INTO gateway_orders (account, client_id, state, result, updated_ms) VALUES "
_KEY = " ON CONFLICT (account, client_id) "


def _values(n: int) -> str:
    return ", ".join(f"(:account, :c{k}, :state, :r{k}, :now)" for k in range(n))


@functools.lru_cache(maxsize=16)
def _claim_sql(n: int) -> TextClause:
    """Insert ``n`` ids unless known; return the ids inserted."""
    return text(_COLUMNS + _values(n) + _KEY + "DO NOTHING RETURNING client_id")


@functools.lru_cache(maxsize=16)
def _upsert_sql(n: int) -> TextClause:
    """Insert or overwrite ``n`` rows."""
    return text(
        _COLUMNS + _values(n) + _KEY
        + "DO UPDATE SET state = excluded.state, result = excluded.result, "
        "updated_ms = excluded.updated_ms"
    )  # fmt: skip
