"""A process's in-memory copy of a paper account's ledger, kept in step with the database.

The database is the source of truth: fills, funding and stops are recorded there and
the ledger is what replaying them through the core ``Ledger`` gives. Replaying
everything on every call would grow with the account's history, so each process
keeps its ledger keyed by the account's ``version`` (bumped by every change) and, when
another process moved it, applies only the fills and funding recorded since (their
``seq`` is above the last one seen) and the current stops. That equals a full replay
because events are booked in time order: a new fill or settlement never sorts before
one already applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec
from aifap.exchange.paper.models import PaperAccount, PaperFill, PaperFunding, PaperStops
from aifap.exchange.paper.state import fill_of


class PaperBook:
    """The ledger of one paper account, rebuilt incrementally from recorded events.

    Args:
        name: the account name.
        capital: the account's starting capital.
        leverage: the account's leverage.
        markets: the market specs the ledger books against.
    """

    def __init__(
        self, name: str, capital: Decimal, leverage: Decimal, markets: Mapping[str, MarketSpec]
    ) -> None:
        self.name = name
        self._capital = capital
        self._leverage = leverage
        self._markets = markets
        self.version: int | None = None  # None: nothing loaded (or no longer trusted)
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next :meth:`sync` replays the account from scratch."""
        self.ledger = Ledger(self._capital, self._markets, leverage=self._leverage)
        self.version = None
        self.last_fill_seq = 0
        self.last_funding_seq = 0
        self.symbol_fill_seq: dict[str, int] = {}
        self.reloads = 0  # how many times another process's changes were loaded (tests)

    def sync(self, session: Session, account: PaperAccount) -> None:
        """Bring the ledger up to ``account.version`` (a no-op when it did not move)."""
        if self.version is not None and self.version == account.version:
            return
        self.reloads += 1
        fills = session.scalars(
            select(PaperFill).where(
                PaperFill.account == self.name, PaperFill.seq > self.last_fill_seq
            )
        ).all()
        funding = session.scalars(
            select(PaperFunding).where(
                PaperFunding.account == self.name, PaperFunding.seq > self.last_funding_seq
            )
        ).all()
        events: list[tuple[int, int, int, Any]] = [(f.ts_ms, 1, f.seq, f) for f in fills]
        events += [(p.ts_ms, 0, p.seq, p) for p in funding]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for _, kind, _, row in events:
            if kind == 1:
                self.ledger.apply(
                    fill_of(row), take_profit=row.take_profit, stop_loss=row.stop_loss
                )
            else:
                self.ledger.apply_funding(row.symbol, row.rate, row.mark)
        for row in fills:
            self.note_fill(row.symbol, row.seq)
        self.last_funding_seq = max([self.last_funding_seq, *(p.seq for p in funding)])
        stops = session.scalars(select(PaperStops).where(PaperStops.account == self.name)).all()
        for stop in stops:
            if self.symbol_fill_seq.get(stop.symbol, 0) <= stop.after_fill_seq:
                self.ledger.set_stops(stop.symbol, stop.take_profit, stop.stop_loss)
        self.version = account.version

    def note_fill(self, symbol: str, seq: int) -> None:
        """Record that fill ``seq`` of ``symbol`` is in the ledger."""
        self.last_fill_seq = max(self.last_fill_seq, seq)
        self.symbol_fill_seq[symbol] = max(self.symbol_fill_seq.get(symbol, 0), seq)

    def note_funding(self, seq: int) -> None:
        """Record that settlement ``seq`` is in the ledger."""
        self.last_funding_seq = max(self.last_funding_seq, seq)
