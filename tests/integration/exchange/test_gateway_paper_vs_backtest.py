"""Paper vs backtest: the same order sequence on the same bars gives the same fills and fees.

A deterministic strategy runs through ``aifap.backtest`` on two symbols of 1m bars with
funding every 8 h and SL/TP on its entries. Its plans (orders and stop updates, as the
core planner made them) are replayed through ``PaperGateway`` over the same bars on a
clock that stands where the backtester stood when it decided: fills (rebalances and
triggered stops), fees and funding must be identical, Decimal for Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

import aifap.backtest.engine as backtest_engine
from aifap.backtest import backtest
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, FillReason
from aifap.core.planner import Plan
from aifap.data.frames import FrameBarSource
from aifap.exchange.paper import PaperGateway

START = datetime(2026, 2, 1, tzinfo=UTC)
MINUTES = 20 * 60  # crosses the 08:00 and 16:00 settlements
MODEL = FillModel(NotionalFee(Decimal("0.0006")), BpsSlippage(Decimal(2)))


def _spec(symbol: str, base: str, amount_step: str, price_step: str) -> MarketSpec:
    return MarketSpec(symbol, MarketType.FUTURES, base, "USDT",
                      amount_step=Decimal(amount_step), price_step=Decimal(price_step),
                      min_amount=Decimal(amount_step), min_notional=Decimal(5),
                      max_leverage=100)


MARKETS = {"BTCUSDT": _spec("BTCUSDT", "BTC", "0.001", "0.1"),
           "ETHUSDT": _spec("ETHUSDT", "ETH", "0.01", "0.01")}


def _bars(price: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=MINUTES, freq="1min", tz="UTC", name="timestamp")
    close = price * np.exp(np.cumsum(rng.normal(0, 0.0012, MINUTES)))
    open_ = np.r_[price, close[:-1]] * (1 + rng.normal(0, 0.0003, MINUTES))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, MINUTES))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, MINUTES))
    return pd.DataFrame({"open": open_.round(2), "high": high.round(2), "low": low.round(2),
                         "close": close.round(2), "volume": 1.0}, index=index)


def _source() -> FrameBarSource:
    settle = pd.date_range(START, periods=3, freq="8h", tz="UTC")
    funding = {"BTCUSDT": pd.Series([0.0001, 0.0003, -0.0002], index=settle),
               "ETHUSDT": pd.Series([0.0002, -0.0004, 0.0005], index=settle)}
    return FrameBarSource({"BTCUSDT": _bars(60_000, 1), "ETHUSDT": _bars(3_000, 2)},
                         funding=funding, markets=MARKETS)


WEIGHTS = [(0.6, -0.3), (-0.4, 0.5), (0.3, 0.2), (0.0, -0.6), (0.5, 0.0)]


def strategy(context: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Cycle through fixed weights; entries carry SL/TP 1.5 % and 2.5 % away."""
    calls: list[pd.Timestamp] = config["calls"]
    calls.append(context.now)
    btc, eth = WEIGHTS[(len(calls) - 1) % len(WEIGHTS)]
    out: dict[str, Any] = {}
    for symbol, weight in (("BTCUSDT", btc), ("ETHUSDT", eth)):
        if weight == 0:
            continue
        price = float(context.current(symbol, "close"))
        side = 1 if weight > 0 else -1
        out[symbol] = {"weight": weight,
                       "stop_loss": round(price * (1 - side * 0.015), 1),
                       "take_profit": round(price * (1 + side * 0.025), 1)}
    return out


@dataclass
class Recorder:
    """The backtester's fill model, recording every fill it makes."""

    model: FillModel
    fills: list[Fill] = field(default_factory=list)

    def market_fill(self, *args: Any) -> Fill:
        fill = self.model.market_fill(*args)
        self.fills.append(fill)
        return fill

    def stop_fill(self, *args: Any, **kwargs: Any) -> Fill:
        fill = self.model.stop_fill(*args, **kwargs)
        self.fills.append(fill)
        return fill


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _key(fill: Fill) -> tuple[object, ...]:
    return (fill.symbol, fill.side, fill.amount, fill.price, fill.fee,
            pd.Timestamp(fill.timestamp), fill.reason, fill.client_id)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paper_replays_the_backtest_to_the_same_fills_fees_and_funding(
    db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    plans: dict[int, Plan] = {}
    real_plan = backtest_engine.plan

    def recording_plan(*args: Any, **kwargs: Any) -> Plan:
        result = real_plan(*args, **kwargs)
        plans[kwargs["cycle"]] = result
        return result

    monkeypatch.setattr(backtest_engine, "plan", recording_plan)
    recorder = Recorder(MODEL)
    calls: list[pd.Timestamp] = []
    result = backtest(strategy, _source(), capital=10_000, rebalance_every="1h",
                      leverage=2, threshold=0.0, fill_model=recorder,  # type: ignore[arg-type]
                      config={"calls": calls})

    clock = Clock(START)
    paper = PaperGateway(MARKETS, _source(), url=db_url, account="replay", capital=10_000,
                         leverage=2, fill_model=MODEL, clock=clock)
    for cycle, decided in enumerate(calls):
        plan = plans.get(cycle)
        if plan is None:
            continue
        clock.now = decided.to_pydatetime()  # where the backtester stood: the bar's close
        for batch in plan.batches():
            placed = paper.place_orders(list(batch))
            assert all(o.client_id == r.client_id for o, r in zip(placed, batch, strict=True))
        for update in plan.stop_updates:
            paper.set_stops(update.symbol, take_profit=update.take_profit,
                            stop_loss=update.stop_loss)
    clock.now = START + timedelta(minutes=MINUTES)  # the last bar's close

    got = paper.fills(START)
    reasons = {f.reason for f in recorder.fills}
    assert {FillReason.REBALANCE} < reasons  # the run also hit SL/TP: both paths compared
    assert len(recorder.fills) > 20
    assert [_key(f) for f in got] == [_key(f) for f in recorder.fills]
    fees = sum((f.fee for f in got), Decimal(0))
    assert fees == sum((f.fee for f in recorder.fills), Decimal(0))
    assert float(fees) == result.metrics["fees"]
    funding = paper.funding(START)
    assert funding
    assert {p.timestamp.hour for p in funding} <= {0, 8, 16}
    assert float(sum((p.amount for p in funding), Decimal(0))) == result.metrics["funding"]
    assert float(paper.balance().equity or 0) == pytest.approx(
        result.metrics["final_equity"], rel=1e-12)
