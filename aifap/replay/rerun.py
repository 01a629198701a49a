"""The replay: the session's frozen strategy through the real backtester over its period.

Same bars (the session's bar source: the built-in market, the store, a directory or
URL), same symbols, allocation, leverage, threshold, gross limit and ``config_dict``,
the paper gateway's fill model (the backtester's defaults), rebalancing on the same
schedule boundaries. What the backtester decided at each rebalance is recorded through
``backtest(..., on_cycle=...)``; a strategy error skips the cycle as the session does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from aifap.backtest.data import default_markets
from aifap.backtest.engine import CycleRecord
from aifap.backtest.result import BacktestResult
from aifap.backtest.run import backtest
from aifap.core.errors import ConfigError
from aifap.core.markets import MarketSpec
from aifap.core.timeconv import from_ms
from aifap.core.timeframes import timeframe_seconds
from aifap.live.wiring import open_bars
from aifap.replay.records import ZERO, CycleView, SideView, Trade
from aifap.replay.session import SessionPeriod
from aifap.strategy import load_strategy

MS = 1_000_000  # ns per ms


@dataclass(frozen=True)
class Marks:
    """Each symbol's base bars over the period: the reference prices of the decomposition.

    ``at(symbol, ts)`` is the open of the bar that holds ``ts`` (what a market order
    sent then fills at in the backtester); ``end`` the close of the period's last bar.
    """

    step_ms: int
    frames: dict[str, pd.DataFrame]
    _arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def bar_ms(self, ts_ms: int) -> int:
        """Return the open time of the bar that holds ``ts_ms``."""
        return ts_ms - ts_ms % self.step_ms

    def _columns(self, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self._arrays.get(symbol)
        if found is None:
            frame = self.frames[symbol]
            found = (
                frame.index.as_unit("ms").asi8,
                frame["open"].to_numpy(dtype="float64"),
                frame["close"].to_numpy(dtype="float64"),
            )
            self._arrays[symbol] = found
        return found

    def at(self, symbol: str, ts_ms: int) -> Decimal:
        """Return the open of the bar holding ``ts_ms`` (carried over holes)."""
        stamps, opens, closes = self._columns(symbol)
        bar = self.bar_ms(ts_ms)
        i = int(np.searchsorted(stamps, bar, side="right")) - 1
        if i < 0:
            raise ConfigError(f"{symbol}: the bar source must have bars at {from_ms(ts_ms)}")
        return Decimal(repr(float(opens[i] if stamps[i] == bar else closes[i])))

    def end(self, symbol: str) -> Decimal:
        """Return the close of the period's last bar."""
        return Decimal(repr(float(self.frames[symbol]["close"].iloc[-1])))


@dataclass
class Replay:
    """The backtest of the session's period and what it decided, as a side."""

    result: BacktestResult
    side: SideView
    markets: dict[str, MarketSpec]
    marks: Marks


def _jsonable_state(state: Any) -> Any:
    try:
        return json.loads(json.dumps(state, default=str))
    except (TypeError, ValueError):
        return repr(state)


def run_replay(period: SessionPeriod) -> Replay:
    """Backtest the session's strategy over its period; raise ConfigError if it cannot."""
    config = period.config
    if config.rebalance_every is None:
        raise ConfigError(
            "rebalance_cron sessions cannot be replayed yet: parity needs rebalance_every"
        )
    source = open_bars(config)
    decided: dict[int, CycleView] = {}

    def observe(record: CycleRecord) -> None:
        time_ms = int(record.now.value // MS)
        view = CycleView(
            time_ms=time_ms,
            ran=True,
            targets=record.targets,
            error=record.error,
            number=record.cycle,
        )
        if record.plan is not None:
            view.equity = record.plan.equity
            view.weights = dict(record.plan.current_weights)
            for order in record.plan.orders:
                view.planned[order.symbol] = (
                    view.planned.get(order.symbol, ZERO) + order.signed_amount
                )
                view.orders.setdefault(order.symbol, []).append(order.client_id)
                view.order_states[order.client_id] = "planned"
        view.prices = {k: Decimal(repr(v)) for k, v in record.prices.items()}
        view.state = _jsonable_state(record.state)
        decided[time_ms] = view

    result = backtest(
        load_strategy(config.strategy),
        source,
        symbols=list(config.symbols),
        start=from_ms(period.start_ms),
        end=from_ms(period.end_ms),
        capital=float(config.allocation),
        rebalance_every=config.rebalance_every,
        market=config.market.value,
        leverage=config.leverage,
        threshold=float(config.threshold),
        max_gross_weight=float(config.max_gross_weight),
        config=config.config_dict,
        on_error="skip",
        progress=False,
        timeframe=config.bar_timeframe,
        on_cycle=observe,
    )
    markets = default_markets(source, config.symbols, config.market)
    trades = _trades(result, markets)
    filled = {t.client_id for t in trades if t.client_id}
    for view in decided.values():
        for cid in view.order_states:
            view.order_states[cid] = "filled" if cid in filled else "dropped"
    step_ms = timeframe_seconds(config.bar_timeframe) * 1000
    frames = {
        s: source.bars(
            s,
            config.bar_timeframe,
            start=from_ms(period.start_ms - step_ms),
            end=from_ms(period.end_ms),
        )
        for s in config.symbols
    }
    frames = {
        s: f[f.index.as_unit("ms").asi8 + step_ms <= period.end_ms] for s, f in frames.items()
    }
    equity = result.equity
    side = SideView(
        name="backtest",
        cycles=decided,
        trades=trades,
        funding_paid=Decimal(repr(float(result.metrics["funding"]))),
        reported_pv=Decimal(repr(float(equity.iloc[-1]))),
        pv_path=[(int(t.value // MS), float(v)) for t, v in equity.items()],
    )
    return Replay(result, side, markets, Marks(step_ms, frames))


def _trades(result: BacktestResult, markets: dict[str, MarketSpec]) -> list[Trade]:
    """Return the backtest's fills; a spot buy's fee back in the base coin it was taken in.

    ``result.orders`` gives every fee as its value in the quote; a spot buy's fee was
    ``fee_quote / price`` of the base coin (what the session's journal records).
    """
    orders = result.orders
    if len(orders) == 0:
        return []
    out = []
    for row in orders[orders["status"] == "filled"].itertuples(index=False):
        symbol = str(row.symbol)
        market = markets[symbol]
        amount = Decimal(repr(float(row.amount)))
        price = Decimal(repr(float(row.price)))
        fee = Decimal(repr(float(row.fee)))
        in_base = row.side == "buy" and not market.is_futures
        out.append(
            Trade(
                ts_ms=int(pd.Timestamp(row.timestamp).value // MS),
                symbol=symbol,
                qty=(amount if row.side == "buy" else -amount) * market.contract_size,
                price=price,
                fee=fee / price if in_base else fee,
                fee_currency=market.base if in_base else market.quote,
                reason=str(row.reason),
                client_id=None if row.client_id is None else str(row.client_id),
            )
        )
    return out
