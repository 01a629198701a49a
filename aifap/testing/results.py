"""Write a session's results with the project's own writers, for tests and benchmarks.

:func:`write_session` drives a scripted account (random-walk prices, rebalanced to
equal weights) through finwatcher's :class:`~aifap.watch.snapshots.SnapshotTaker` and
:class:`~aifap.watch.snapshots.SnapshotStore` (every snapshot, its metrics and its
positions exactly as a live session stores them) and the session journal (session
row, fills, events). ``bulk=True`` writes the same tables in batches, with the metrics
computed once over the whole series by :mod:`aifap.core.metrics`, for the benchmark's
tens of thousands of snapshots.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import numpy as np
import pandas as pd
from sqlalchemy import Table, insert, text

from aifap.core import metrics
from aifap.core.orders import Fill, Side
from aifap.core.portfolio import Position
from aifap.db import make_engine, migrate
from aifap.exchange.gateway import Balance
from aifap.live.journal import Journal
from aifap.live.models import LiveSession
from aifap.watch.models import WatchPosition, WatchSnapshot
from aifap.watch.snapshots import FundingTally, SnapshotStore, SnapshotTaker

START = datetime(2024, 6, 1, tzinfo=UTC)
FEE_RATE = Decimal("0.0006")
Q = Decimal("0.00000001")


@dataclass
class ScriptedAccount:
    """A gateway stand-in: prices walk, positions are rebalanced to equal weights."""

    symbols: Sequence[str]
    allocation: Decimal
    seed: int = 7
    leverage: Decimal = Decimal(1)
    wallet: Decimal = Decimal(0)
    sizes: dict[str, Decimal] = field(default_factory=dict)
    entries: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.wallet = self.allocation
        for i, symbol in enumerate(self.symbols):
            self.marks[symbol] = Decimal(str(round(100.0 * (1 + i), 4)))

    def step(self) -> None:
        """Move every mark price one random step."""
        moves = self.rng.normal(0.0, 0.002, len(self.symbols))
        for symbol, move in zip(self.symbols, moves, strict=True):
            price = float(self.marks[symbol]) * float(np.exp(move))
            self.marks[symbol] = Decimal(str(round(price, 4)))

    def rebalance(self, when: datetime, weights: dict[str, float]) -> list[Fill]:
        """Trade each symbol to ``weight × PV / price`` at its mark; return the fills."""
        pv = self.wallet + sum((p.unrealized_pnl for p in self.positions()), Decimal(0))
        made: list[Fill] = []
        for symbol in self.symbols:
            price = self.marks[symbol]
            target = (Decimal(str(weights.get(symbol, 0.0))) * pv / price).quantize(
                Decimal("0.001")
            )
            held = self.sizes.get(symbol, Decimal(0))
            diff = target - held
            if diff == 0:
                continue
            # realize the position at the mark, then hold the target from this price
            self.wallet += (price - self.entries.get(symbol, price)) * held
            fee = (abs(diff) * price * FEE_RATE).quantize(Q)
            self.wallet -= fee
            self.sizes[symbol], self.entries[symbol] = target, price
            made.append(
                Fill(
                    symbol=symbol,
                    side=Side.BUY if diff > 0 else Side.SELL,
                    amount=abs(diff),
                    price=price,
                    fee=fee,
                    timestamp=when,
                    client_id=f"c{len(self.fills) + len(made)}",
                    trade_id=f"t{len(self.fills) + len(made)}",
                )
            )
        self.fills += made
        return made

    # the Gateway methods finwatcher's SnapshotTaker calls
    def balance(self) -> Balance:
        """Return the wallet."""
        return Balance("USDT", self.wallet, self.wallet)

    def positions(self) -> list[Position]:
        """Return the open positions at the current marks."""
        return [
            Position(s, size, self.entries[s], self.marks[s], leverage=self.leverage)
            for s, size in self.sizes.items()
            if size != 0
        ]

    def funding(self, since: datetime, symbols: Sequence[str] | None = None) -> list[object]:
        """Return no funding payments."""
        return []


def _session_row(
    session_id: str, allocation: Decimal, start: datetime, end: datetime
) -> LiveSession:
    config = {"session_id": session_id, "trader": "tester", "strategy_name": "equal_weight"}
    return LiveSession(
        session_id=session_id,
        trader="tester",
        strategy="equal_weight",
        account_key=f"paper:paper:futures:{session_id}",
        config_json=json.dumps(config),
        status="stopped",
        exit_code=0,
        started_ms=int(start.timestamp() * 1000),
        run_started_ms=int(start.timestamp() * 1000),
        stopped_ms=int(end.timestamp() * 1000),
        initial_equity=allocation,
        initial_wallet=allocation,
        clock_ms=int(end.timestamp() * 1000),
        runs=1,
        workdir="",
    )


def write_session(
    url: str,
    session_id: str = "sess",
    *,
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    days: float = 3.0,
    interval: timedelta = timedelta(hours=1),
    rebalance_every: int = 6,
    allocation: float = 10_000.0,
    start: datetime = START,
    seed: int = 7,
    bulk: bool = False,
) -> ScriptedAccount:
    """Write a session's session row, fills, events and finwatcher snapshots to ``url``.

    The first snapshot is due one ``interval`` after ``start``; the account rebalances
    to equal weights at ``start`` and every ``rebalance_every`` intervals.
    """
    migrate(url)
    engine = make_engine(url)
    steps = round(timedelta(days=days) / interval)
    end = start + steps * interval
    journal = Journal(engine, session_id)
    journal.create_session(_session_row(session_id, Decimal(str(allocation)), start, end))
    account = ScriptedAccount(symbols, Decimal(str(allocation)), seed=seed)
    weights = {s: 1.0 / len(symbols) for s in symbols}
    account.rebalance(start, weights)
    start_ms = int(start.timestamp() * 1000)
    journal.event("info", "session_started", f"session {session_id} started", start_ms, None)
    if bulk:
        _write_bulk(engine, session_id, account, start, interval, steps, rebalance_every, weights)
    else:
        store = SnapshotStore(engine, session_id)
        taker = SnapshotTaker(
            session_id,
            account.allocation,
            account.allocation,
            symbols,
            [],
            FundingTally(start, symbols),
        )
        for i in range(1, steps + 1):
            account.step()
            due = start + i * interval
            store.save(taker.take(account, due), due)  # type: ignore[arg-type]
            if i % rebalance_every == 0 and i < steps:
                account.rebalance(due, weights)
    journal.record_fills(account.fills, lambda _fill: True, 0)
    return account


def _write_bulk(
    engine: object,
    session_id: str,
    account: ScriptedAccount,
    start: datetime,
    interval: timedelta,
    steps: int,
    rebalance_every: int,
    weights: dict[str, float],
) -> None:
    times, pvs, snaps, positions = [], [], [], []
    for i in range(1, steps + 1):
        account.step()
        due = start + i * interval
        held = account.positions()
        upnl = sum((p.unrealized_pnl for p in held), Decimal(0))
        pv = account.wallet + upnl
        times.append(due)
        pvs.append(float(pv))
        snaps.append((due, account.wallet, pv, upnl))
        positions.append(held)
        if i % rebalance_every == 0 and i < steps:
            account.rebalance(due, weights)
    equity = pd.Series(pvs, index=pd.DatetimeIndex(times))
    initial = float(account.allocation)
    drawdowns = np.minimum.accumulate(metrics.drawdown(equity.to_numpy()))
    ts = [int(t.timestamp() * 1000) for t in times]
    snapshot_table = cast(Table, WatchSnapshot.__table__)
    position_table = cast(Table, WatchPosition.__table__)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        rows = []
        sharpe: float | None = None
        for k, (_due, wallet, pv, upnl) in enumerate(snaps):
            # finwatcher's Sharpe over the PV so far; refreshed hourly here (exact at the end)
            if k % 60 == 0 or k == len(snaps) - 1:
                history = equity.iloc[: k + 1]
                sharpe = metrics.sharpe_ratio(metrics.daily_returns(history, initial=initial))
            rows.append(
                {
                    "session_id": session_id,
                    "ts_ms": ts[k],
                    "taken_ms": ts[k],
                    "balance": wallet,
                    "pv": pv,
                    "roe": metrics.roe(pv, account.allocation),
                    "unrealized_pnl": upnl,
                    "sharpe": sharpe,
                    "max_drawdown": float(drawdowns[k]),
                    "funding_fees": Decimal(0),
                }
            )
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(snapshot_table), rows[chunk : chunk + 5000])
        ids = dict(
            conn.execute(
                snapshot_table.select()
                .with_only_columns(snapshot_table.c.ts_ms, snapshot_table.c.id)
                .where(snapshot_table.c.session_id == session_id)
            ).all()
        )
        batch: list[dict[str, object]] = []
        for k, held in enumerate(positions):
            for p in held:
                batch.append(
                    {
                        "snapshot_id": ids[ts[k]],
                        "symbol": p.symbol,
                        "size": p.size,
                        "entry_price": p.entry_price,
                        "mark_price": p.mark_price,
                        "leverage": p.leverage,
                        "take_profit": None,
                        "stop_loss": None,
                        "funding_fee": Decimal(0),
                        "unrealized_pnl": p.unrealized_pnl,
                    }
                )
            if len(batch) >= 20_000:
                conn.execute(insert(position_table), batch)
                batch = []
        if batch:
            conn.execute(insert(position_table), batch)
    if engine.dialect.name == "postgresql":  # type: ignore[attr-defined]
        # what autovacuum does after a bulk load; without statistics the planner sorts
        # a whole session's snapshots instead of walking (session_id, ts_ms)
        with engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text("ANALYZE watch_snapshots"))
            conn.execute(text("ANALYZE watch_positions"))
