"""Paper vs backtest: the same order sequence on the same bars gives the same fills and fees.

A deterministic strategy runs through ``aifap.backtest`` on two symbols of 1m bars with
funding every 8 h and SL/TP on its entries. Its plans (orders and stop updates, as the
core planner made them) are replayed through ``PaperGateway`` over the same bars on a
clock that stands where the backtester stood when it decided: fills (rebalances and
triggered stops), fees and funding must be identical, Decimal for Decimal.

The spot variant holds all the cash in one coin (weight 1.0), sells part of it, rotates
and exits fully: the buys' fees come out of the base coin on both sides, the cash never
goes below zero, and the dust a full exit leaves is the same on both.
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

    def market_fill(self, *args: Any, **kwargs: Any) -> Fill:
        fill = self.model.market_fill(*args, **kwargs)
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
    return (fill.symbol, fill.side, fill.amount, fill.price, fill.fee, fill.fee_currency,
            fill.fee_quote, pd.Timestamp(fill.timestamp), fill.reason, fill.client_id)


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> dict[int, Plan]:
    """The backtester's plans by cycle, recorded as it makes them."""
    recorded: dict[int, Plan] = {}
    real_plan = backtest_engine.plan

    def recording_plan(*args: Any, **kwargs: Any) -> Plan:
        result = real_plan(*args, **kwargs)
        recorded[kwargs["cycle"]] = result
        return result

    monkeypatch.setattr(backtest_engine, "plan", recording_plan)
    return recorded


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paper_replays_the_backtest_to_the_same_fills_fees_and_funding(
    db_url: str, plans: dict[int, Plan],
) -> None:
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


SPOT_MARKETS = {
    "BTCUSDT": MarketSpec("BTCUSDT", MarketType.SPOT, "BTC", "USDT", amount_step=Decimal("0.0001"),
                          price_step=Decimal("0.1"), min_notional=Decimal(5)),
    "ETHUSDT": MarketSpec("ETHUSDT", MarketType.SPOT, "ETH", "USDT", amount_step=Decimal("0.001"),
                          price_step=Decimal("0.01"), min_notional=Decimal(5)),
}
SPOT_MODEL = FillModel(NotionalFee(Decimal("0.001")), BpsSlippage(Decimal(2)))
# buy and hold all the cash, partial sells, a rotation, a full exit, back in, out again
SPOT_WEIGHTS = [(1.0, 0.0), (1.0, 0.0), (1.0, 0.0), (0.6, 0.0), (0.3, 0.0), (0.3, 0.7),
                (0.0, 1.0), (0.0, 0.0), (0.0, 0.0), (0.5, 0.5), (0.0, 0.0)]


def _spot_source() -> FrameBarSource:
    return FrameBarSource({"BTCUSDT": _bars(60_000, 3), "ETHUSDT": _bars(3_000, 4)},
                         markets=SPOT_MARKETS, market=MarketType.SPOT)


def spot_strategy(context: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Step through ``SPOT_WEIGHTS`` once, then stay flat."""
    calls: list[pd.Timestamp] = config["calls"]
    calls.append(context.now)
    btc, eth = SPOT_WEIGHTS[min(len(calls), len(SPOT_WEIGHTS)) - 1]
    return {s: w for s, w in (("BTCUSDT", btc), ("ETHUSDT", eth)) if w}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_paper_replays_a_spot_backtest_with_fees_in_the_base_coin(
    db_url: str, plans: dict[int, Plan],
) -> None:
    recorder = Recorder(SPOT_MODEL)
    calls: list[pd.Timestamp] = []
    result = backtest(spot_strategy, _spot_source(), capital=10_000, rebalance_every="1h",
                      market="spot", threshold=0.0, fill_model=recorder,  # type: ignore[arg-type]
                      config={"calls": calls})

    clock = Clock(START)
    paper = PaperGateway(SPOT_MARKETS, _spot_source(), url=db_url, account="spot-replay",
                         capital=10_000, market_type=MarketType.SPOT, fill_model=SPOT_MODEL,
                         clock=clock)
    cash_seen: list[Decimal] = []
    for cycle, decided in enumerate(calls):
        plan = plans.get(cycle)
        if plan is None:
            continue
        clock.now = decided.to_pydatetime()
        cash_seen.append(paper.balance().free)
        for batch in plan.batches():
            placed = paper.place_orders(list(batch))
            assert all(o.client_id == r.client_id for o, r in zip(placed, batch, strict=True))
    clock.now = START + timedelta(minutes=MINUTES)

    got = paper.fills(START)
    assert [_key(f) for f in got] == [_key(f) for f in recorder.fills]
    buys = [f for f in got if f.side == "buy"]
    sells = [f for f in got if f.side == "sell"]
    assert buys
    assert sells
    assert {f.fee_currency for f in buys} == {"BTC", "ETH"}  # out of the coin received
    assert {f.fee_currency for f in sells} == {"USDT"}
    assert all(f.fee_quote == f.fee * f.price for f in buys)
    fees = sum((f.fee_value for f in got), Decimal(0))
    assert float(fees) == pytest.approx(result.metrics["fees"], rel=1e-15)
    assert min(cash_seen) >= 0
    # the first buy spends all the cash it was sized for, with no fee added on top; at
    # an open above the close it was planned at, it shrinks to the cash
    first, planned = buys[0], plans[0].orders[0]
    assert (first.symbol, first.client_id) == ("BTCUSDT", planned.client_id)
    step = SPOT_MARKETS["BTCUSDT"].amount_step
    assert first.amount == min(planned.amount, (10_000 / first.price // step) * step)
    assert first.notional <= 10_000
    balance = paper.balance()
    ledger = paper.ledger
    assert balance.free == ledger.cash >= 0
    # the run ends flat but for the dust the full exits left (reported, identical)
    dust = [leg for p in plans.values() for leg in p.dropped if leg.reason.startswith("dust")]
    assert dust
    held = {s: p.size for s, p in ledger.positions.items()}
    assert all(size < SPOT_MARKETS[s].amount_step for s, size in held.items())
    final_cash = Decimal(repr(float(result.positions["cash"].iloc[-1])))
    assert float(ledger.cash) == pytest.approx(float(final_cash), abs=1e-6)
    assert float(balance.equity or 0) == pytest.approx(result.metrics["final_equity"], rel=1e-12)
    # a restart replays the recorded fills (fee coin and quote value) to the same book
    again = PaperGateway(SPOT_MARKETS, _spot_source(), url=db_url, account="spot-replay",
                         capital=10_000, market_type=MarketType.SPOT, fill_model=SPOT_MODEL,
                         clock=clock)
    assert again.balance() == balance
    assert again.positions() == paper.positions()
    assert again.ledger.cash == ledger.cash
