"""Take finwatcher snapshots (PV, ROE, uPnL, Sharpe, max drawdown, funding) and store them.

Metrics come from :mod:`aifap.core.metrics` only. The PV series survives restarts:
it is read back from ``watch_snapshots`` when finwatcher starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from aifap.core import metrics
from aifap.core.markets import MarketType
from aifap.core.snapshot import Snapshot
from aifap.core.timeconv import from_ms, to_ms
from aifap.db import session_factory, session_rows
from aifap.exchange.gateway import Gateway, account_wallet
from aifap.watch.models import WatchPosition, WatchSnapshot


class FundingTally:
    """Funding paid since the session began, fetched incrementally (no payment twice)."""

    def __init__(self, since: datetime, symbols: Sequence[str]) -> None:
        self.since = since
        self.symbols = tuple(symbols)
        self.total = Decimal(0)
        self._seen: set[tuple[str, int, str | None]] = set()

    def update(self, gateway: Gateway) -> Decimal:
        """Add new funding payments and return the total."""
        for payment in gateway.funding(self.since, self.symbols):
            key = (payment.symbol, to_ms(payment.timestamp), payment.payment_id)
            if payment.symbol not in self.symbols or key in self._seen:
                continue
            self._seen.add(key)
            self.total += payment.amount
            self.since = max(self.since, payment.timestamp)
        return self.total


class SnapshotTaker:
    """Build ``Snapshot`` values with metrics over the session's PV history.

    Args:
        session_id: the session.
        initial: the allocation at session start (ROE's denominator).
        initial_wallet: the wallet at the first start (the trader's balance is the
            allocation plus what the wallet gained since).
        symbols: the session's symbols.
        history: earlier (time, PV) observations, oldest first.
        funding: the funding tally.
        market: spot counts the free quote plus the holdings at the mark
            (:func:`aifap.exchange.gateway.account_wallet`, as the trader's planner does).
    """

    def __init__(
        self,
        session_id: str,
        initial: Decimal,
        initial_wallet: Decimal,
        symbols: Sequence[str],
        history: list[tuple[datetime, float]],
        funding: FundingTally,
        market: MarketType = MarketType.FUTURES,
    ) -> None:
        self.session_id = session_id
        self.market = market
        self.initial = initial
        self.initial_wallet = initial_wallet
        self.symbols = tuple(symbols)
        self.times = [t for t, _ in history]
        self.values = [v for _, v in history]
        self.funding = funding

    def take(self, gateway: Gateway, when: datetime) -> Snapshot:
        """Query the account and return the snapshot for ``when``."""
        positions = tuple(p for p in gateway.positions() if p.symbol in self.symbols)
        wallet = account_wallet(gateway.balance(), positions, self.market)
        balance = min(wallet, self.initial + (wallet - self.initial_wallet))
        upnl = metrics.unrealized_pnl(positions)
        pv = metrics.portfolio_value(balance, positions)
        self.times.append(when)
        self.values.append(float(pv))
        equity = pd.Series(self.values, index=pd.DatetimeIndex(self.times))
        sharpe = metrics.sharpe_ratio(metrics.daily_returns(equity, initial=float(self.initial)))
        return Snapshot(
            session_id=self.session_id,
            timestamp=when,
            balance=balance,
            positions=positions,
            pv=pv,
            roe=metrics.roe(pv, self.initial),
            unrealized_pnl=upnl,
            sharpe=sharpe,
            max_drawdown=metrics.max_drawdown(equity),
            funding_fees=self.funding.update(gateway),
        )


# what a ``watch_snapshots`` row keeps of a ``Snapshot`` (besides session and times)
_SNAPSHOT_FIELDS = ("balance", "pv", "roe", "unrealized_pnl", "sharpe", "max_drawdown",
                    "funding_fees")
# what a ``watch_positions`` row keeps of a ``Position`` (besides its unrealized PnL)
_POSITION_FIELDS = ("symbol", "size", "entry_price", "mark_price", "leverage",
                    "take_profit", "stop_loss", "funding_fee")


def _fields(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(source, name) for name in names}


class SnapshotStore:
    """Finwatcher's rows in the results database."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self._db = session_factory(engine)
        self.session_id = session_id

    def save(self, snapshot: Snapshot, taken: datetime) -> bool:
        """Store ``snapshot`` (its timestamp is the interval's due time); False if already there."""
        ts = to_ms(snapshot.timestamp)
        with self._db.begin() as db:
            exists = db.scalar(
                select(WatchSnapshot.id).where(
                    WatchSnapshot.session_id == self.session_id, WatchSnapshot.ts_ms == ts
                )
            )
            if exists is not None:
                return False
            row = WatchSnapshot(
                session_id=self.session_id,
                ts_ms=ts,
                taken_ms=to_ms(taken),
                **_fields(snapshot, _SNAPSHOT_FIELDS),
            )
            db.add(row)
            db.flush()
            for p in snapshot.positions:
                db.add(
                    WatchPosition(
                        snapshot_id=row.id,
                        unrealized_pnl=p.unrealized_pnl,
                        **_fields(p, _POSITION_FIELDS),
                    )
                )
        return True

    def history(self) -> list[tuple[datetime, float]]:
        """Return the stored (time, PV) observations, oldest first."""
        with self._db() as db:
            rows = db.execute(
                select(WatchSnapshot.ts_ms, WatchSnapshot.pv)
                .where(WatchSnapshot.session_id == self.session_id)
                .order_by(WatchSnapshot.ts_ms)
            )
            return [(from_ms(ts), float(pv)) for ts, pv in rows]

    def rows(self) -> list[WatchSnapshot]:
        """Return the stored snapshot rows, oldest first."""
        return session_rows(self._db, WatchSnapshot, self.session_id, WatchSnapshot.ts_ms)

    def latest(self) -> Snapshot | None:
        """Return the newest stored snapshot with its positions (for the alerts' diff)."""
        from aifap.core.portfolio import Position

        with self._db() as db:
            row = db.scalar(
                select(WatchSnapshot)
                .where(WatchSnapshot.session_id == self.session_id)
                .order_by(WatchSnapshot.ts_ms.desc())
                .limit(1)
            )
            if row is None:
                return None
            positions = tuple(
                Position(**_fields(p, _POSITION_FIELDS))
                for p in db.scalars(
                    select(WatchPosition).where(WatchPosition.snapshot_id == row.id)
                )
            )
        return Snapshot(
            session_id=self.session_id,
            timestamp=from_ms(row.ts_ms),
            positions=positions,
            **_fields(row, _SNAPSHOT_FIELDS),
        )
