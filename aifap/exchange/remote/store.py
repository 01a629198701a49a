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

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, String, Text, select, text
from sqlalchemy.dialects import postgresql, sqlite
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
        self._insert = postgresql.insert if self._postgres else sqlite.insert

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
        now = int(time.time() * 1000)
        rows = [
            {"account": self.account, "client_id": c, "state": SENT, "result": None,
             "updated_ms": now} for c in ids
        ]  # fmt: skip
        statement = (
            self._insert(GatewayOrder)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["account", "client_id"])
            .returning(GatewayOrder.client_id)
        )
        with self._sessions.begin() as db:
            claimed = set(db.scalars(statement))
            others = [c for c in ids if c not in claimed]
            return self._known(db, others) if others else {}

    def mark_sent(self, client_ids: Iterable[str]) -> None:
        """Record that requests for ``client_ids`` are about to leave."""
        self._write(dict.fromkeys(client_ids, (SENT, None)))

    def record(self, results: dict[str, Any]) -> None:
        """Record what the exchange returned for each client id (JSON-ready data)."""
        self._write({cid: (DONE, data) for cid, data in results.items()}, durable=False)

    def _write(self, rows: dict[str, tuple[str, Any]], *, durable: bool = True) -> None:
        """Upsert ``rows`` in one statement and one commit."""
        if not rows:
            return
        now = int(time.time() * 1000)
        values = [
            {"account": self.account, "client_id": client_id, "state": state,
             "result": None if data is None else json.dumps(data, sort_keys=True),
             "updated_ms": now}
            for client_id, (state, data) in rows.items()
        ]  # fmt: skip
        statement = self._insert(GatewayOrder).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["account", "client_id"],
            set_={
                "state": statement.excluded.state,
                "result": statement.excluded.result,
                "updated_ms": statement.excluded.updated_ms,
            },
        )
        with self._sessions.begin() as db:
            if self._postgres and not durable:
                db.execute(text("SET LOCAL synchronous_commit TO OFF"))
            db.execute(statement)

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()
