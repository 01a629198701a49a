"""The paper gateway: next-bar fills from the core fill model, stops, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from helpers.markets import BTCUSDT_FUTURES

from aifap.core.errors import OrderRejectedError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.orders import FillReason, OrderRequest, OrderStatus, Side, client_order_id
from aifap.data.frames import FrameBarSource
from aifap.exchange.factories import PAPER, gateways
from aifap.exchange.gateway import Gateway
from aifap.exchange.paper import PaperGateway

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = BTCUSDT_FUTURES


def _bars(minutes: int = 120) -> pd.DataFrame:
    index = pd.date_range(START, periods=minutes, freq="1min", tz="UTC", name="timestamp")
    close = 60_000 + 50 * np.sin(np.arange(minutes) / 7) + np.arange(minutes) * 3
    return pd.DataFrame(
        {"open": close - 5, "high": close + 20, "low": close - 25, "close": close, "volume": 1.0},
        index=index,
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


MODEL = FillModel(NotionalFee(Decimal("0.0006")), BpsSlippage(Decimal(2)))


def _gateway(db_url: str, clock: Clock, bars: pd.DataFrame | None = None) -> PaperGateway:
    source = FrameBarSource({"BTCUSDT": bars if bars is not None else _bars()})
    return PaperGateway(
        {"BTCUSDT": SPEC},
        source,
        url=db_url,
        account="s1",
        capital=10_000,
        leverage=5,
        fill_model=MODEL,
        clock=clock,
    )


def _order(cycle: int, side: Side, amount: str, **changes: object) -> OrderRequest:
    leg = str(changes.pop("leg", "open"))
    return OrderRequest(
        client_order_id("s1", cycle, "BTCUSDT", leg),
        "BTCUSDT",
        side,
        Decimal(amount),
        leg=leg,
        **changes,
    )  # type: ignore[arg-type]


def test_paper_gateway_is_a_registered_gateway(db_url: str) -> None:
    gateway = _gateway(db_url, Clock(START + timedelta(minutes=10)))
    assert isinstance(gateway, Gateway)
    assert gateways.get("paper") is PAPER
    assert PAPER.modes == {"paper"}


def test_paper_fills_match_the_backtest_fill_model_and_ledger(db_url: str) -> None:
    """Same orders on the same bars: paper fills == FillModel at the next bar's open."""
    bars = _bars()
    clock = Clock(START + timedelta(minutes=10))
    gateway = _gateway(db_url, clock, bars)
    ledger = Ledger(10_000, {"BTCUSDT": SPEC}, leverage=5)
    expected = []
    sequence = [
        (10, _order(1, Side.BUY, "0.05")),  # open long
        (20, _order(2, Side.BUY, "0.03")),  # add
        (30, _order(3, Side.SELL, "0.02", reduce_only=True, leg="reduce")),
        (40, _order(4, Side.SELL, "0.06", reduce_only=True, leg="close")),
        (41, _order(4, Side.SELL, "0.04", leg="open")),  # flip to short
        (50, _order(5, Side.BUY, "0.04", reduce_only=True, leg="close")),
    ]
    for minute, request in sequence:
        clock.now = START + timedelta(minutes=minute)
        [placed] = gateway.place_orders([request])
        assert placed.status is OrderStatus.OPEN
        bar = bars.loc[pd.Timestamp(clock.now)]
        fill = MODEL.market_fill(request, SPEC, Decimal(repr(float(bar["open"]))), clock.now)
        expected.append(ledger.apply(fill))
    clock.now = START + timedelta(minutes=60)
    got = gateway.fills(START)
    assert [(f.side, f.amount, f.price, f.fee, f.timestamp) for f in got] == [
        (f.side, f.amount, f.price, f.fee, f.timestamp) for f in expected
    ]
    assert gateway.positions() == []
    assert gateway.balance().wallet == ledger.balance


def test_paper_session_survives_a_restart_and_dedupes_client_ids(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=5))
    first = _gateway(db_url, clock)
    request = _order(1, Side.BUY, "0.1", take_profit=Decimal(70_000), stop_loss=Decimal(50_000))
    first.place_orders([request])
    clock.now += timedelta(minutes=3)
    before = (first.positions(), first.balance(), first.fills(START))
    assert before[0][0].size == Decimal("0.1")
    assert before[0][0].stop_loss == 50_000

    second = _gateway(db_url, clock)  # a restart: everything comes back from the database
    assert (second.positions(), second.balance(), second.fills(START)) == before
    [again] = second.place_orders([request])
    assert again.status is OrderStatus.FILLED
    assert again.client_id == request.client_id
    clock.now += timedelta(minutes=3)
    assert len(second.fills(START)) == 1


def test_paper_stop_loss_triggers_on_the_bar_range(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=5))
    gateway = _gateway(db_url, clock)
    gateway.place_orders([_order(1, Side.BUY, "0.1")])
    clock.now += timedelta(minutes=2)
    [held] = gateway.positions()
    gateway.set_stops("BTCUSDT", take_profit=None, stop_loss=held.entry_price - Decimal(10))
    clock.now += timedelta(minutes=30)
    fills = gateway.fills(START)
    assert [f.reason for f in fills] == [FillReason.REBALANCE, FillReason.STOP_LOSS]
    assert gateway.positions() == []


def test_paper_returns_bad_orders_rejected_and_places_the_rest(db_url: str) -> None:
    gateway = _gateway(db_url, Clock(START + timedelta(minutes=5)))
    unknown = OrderRequest("af1-x", "DOGEUSDT", Side.BUY, Decimal(1))
    tiny = _order(1, Side.BUY, "0.00001")
    good = _order(2, Side.BUY, "0.01")
    placed = gateway.place_orders([unknown, tiny, good])
    assert [o.client_id for o in placed] == [unknown.client_id, tiny.client_id, good.client_id]
    assert [o.status for o in placed] == [
        OrderStatus.REJECTED,
        OrderStatus.REJECTED,
        OrderStatus.OPEN,
    ]
    assert "symbol must be" in (placed[0].reason or "")
    assert "amount rounds to 0" in (placed[1].reason or "")
    assert [o.client_id for o in gateway.open_orders()] == [good.client_id]
    assert gateway.fetch_order(tiny.client_id, "BTCUSDT") is None  # never recorded
    with pytest.raises(OrderRejectedError, match="symbol must be"):
        gateway.set_stops("ETHUSDT", take_profit=None, stop_loss=None)
