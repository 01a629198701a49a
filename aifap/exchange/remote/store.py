"""The gateway service's memory of orders by client id, so a re-send is never a new order.

Each client id the service sends is recorded ``sent`` before its request leaves and
``done`` with the order the exchange returned (JSON) after. A re-sent client id that
is ``done`` gets the stored order back; one left ``sent`` (the service died in
between) is looked up at the exchange before anything is sent again. The table lives
in the service's database (SQLite by default, PostgreSQL via a URL), so a restart
keeps it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, String, Text, insert, select, update
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
        """Return what ``known`` returns, and record the unknown ids ``sent``: one commit.

        The caller sends the unknown ids next (and looks the known ``sent`` ones up at
        the exchange first): once this returns, a crash never sends them again.
        """
        ids = list(client_ids)
        if not ids:
            return {}
        with self._sessions.begin() as db:
            known = self._known(db, ids)
            new = [c for c in dict.fromkeys(ids) if c not in known]
            if new:
                now = int(time.time() * 1000)
                db.execute(insert(GatewayOrder), [
                    {"account": self.account, "client_id": c, "state": SENT, "result": None,
                     "updated_ms": now} for c in new
                ])  # fmt: skip
        return known

    def mark_sent(self, client_ids: Iterable[str]) -> None:
        """Record that requests for ``client_ids`` are about to leave."""
        self._write(dict.fromkeys(client_ids, (SENT, None)))

    def record(self, results: dict[str, Any]) -> None:
        """Record what the exchange returned for each client id (JSON-ready data)."""
        self._write({cid: (DONE, data) for cid, data in results.items()})

    def _write(self, rows: dict[str, tuple[str, Any]]) -> None:
        if not rows:
            return
        now = int(time.time() * 1000)
        values = [
            {"account": self.account, "client_id": client_id, "state": state,
             "result": None if data is None else json.dumps(data, sort_keys=True),
             "updated_ms": now}
            for client_id, (state, data) in rows.items()
        ]  # fmt: skip
        with self._sessions.begin() as db:  # one transaction: an update per known row
            known = set(
                db.scalars(
                    select(GatewayOrder.client_id).where(
                        GatewayOrder.account == self.account,
                        GatewayOrder.client_id.in_(list(rows)),
                    )
                )
            )
            old = [v for v in values if v["client_id"] in known]
            new = [v for v in values if v["client_id"] not in known]
            if old:
                db.execute(update(GatewayOrder), old)  # by primary key
            if new:
                db.execute(insert(GatewayOrder), new)

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()
