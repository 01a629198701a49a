"""One database transaction per paper-gateway call, under a lock every process honours.

Several processes (a session's strategy, main and finwatcher) may hold a
``PaperGateway`` on the same account. Each public call runs in one transaction that
first takes the account's write lock — SQLite: ``BEGIN IMMEDIATE`` (one writer per
database file); PostgreSQL: ``SELECT … FOR UPDATE`` on the account row — so the
advance over new bars, the orders and the reads of one call see and change one
consistent state, and a pending order is filled by exactly one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aifap.exchange.paper.book import PaperBook
from aifap.exchange.paper.models import PaperAccount


@dataclass
class PaperTx:
    """The state of one locked call: its session, the locked account row, whether it wrote."""

    session: Session
    account: PaperAccount
    book_changed: bool = False

    def changed(self) -> None:
        """Say the call booked fills, funding or stops (other processes must reload)."""
        self.book_changed = True


@contextmanager
def locked(engine: Engine, book: PaperBook) -> Iterator[PaperTx]:
    """Yield a ``PaperTx`` holding the account's lock, with ``book`` synced; commit at the end.

    The account's ``version`` is bumped when the call said :meth:`PaperTx.changed`. On
    any error the transaction is rolled back and ``book`` forgotten (it may hold
    half an advance), so the next call reloads it from the database.
    """
    session = Session(engine, expire_on_commit=False, autoflush=False)
    try:
        if engine.dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        account = session.scalar(
            select(PaperAccount).where(PaperAccount.name == book.name).with_for_update()
        )
        if account is None:
            raise LookupError(f"paper account {book.name!r} must exist, was missing")
        book.sync(session, account)
        tx = PaperTx(session, account)
        yield tx
        if tx.book_changed:
            account.version = int(account.version) + 1
        session.commit()
        book.version = int(account.version)
    except BaseException:
        session.rollback()
        book.reset()
        raise
    finally:
        session.close()
