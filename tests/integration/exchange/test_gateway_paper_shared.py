"""The paper gateway shared by processes, and bars that reach the source late."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from helpers.markets import BTCUSDT_FUTURES as SPEC

from aifap.core.fills import FillModel
from aifap.core.orders import FillReason, OrderRequest, Side
from aifap.data.frames import FrameBarSource
from aifap.exchange.paper import PaperGateway

START = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)


def _frame(minutes: int = 180, drop_at: int | None = None) -> pd.DataFrame:
    index = pd.date_range(START, periods=minutes, freq="1min", tz="UTC", name="timestamp")
    close = 60_000 + 10 * np.sin(np.arange(minutes) / 5)
    frame = pd.DataFrame(
        {"open": close, "high": close + 5, "low": close - 5, "close": close, "volume": 1.0},
        index=index,
    )
    if drop_at is not None:  # a crash through the stop at minute ``drop_at``
        frame.iloc[drop_at, frame.columns.get_loc("low")] = 50_000
    return frame


class LateSource:
    """A bar source whose bars arrive only up to ``available`` (a store being filled)."""

    def __init__(self, frame: pd.DataFrame, available: datetime) -> None:
        settle = pd.DatetimeIndex([datetime(2026, 1, 1, 8, tzinfo=UTC)])
        self.inner = FrameBarSource(
            {"BTCUSDT": frame}, funding={"BTCUSDT": pd.Series([0.001], index=settle)}
        )
        self.available = available

    def symbols(self) -> list[str]:
        return self.inner.symbols()

    def bars(self, symbol: str, timeframe: str = "1m", **kwargs: Any) -> pd.DataFrame:
        end = kwargs.pop("end", None)
        end = self.available if end is None else min(end, self.available)
        return self.inner.bars(symbol, timeframe, end=end, **kwargs)

    def funding(self, symbol: str, **kwargs: Any) -> pd.Series:
        return self.inner.funding(symbol, **kwargs)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _gateway(url: str, clock: Any, source: Any, **kwargs: Any) -> PaperGateway:
    return PaperGateway(
        {"BTCUSDT": SPEC},
        source,
        url=url,
        account="shared",
        capital=10_000,
        leverage=5,
        fill_model=FillModel(),
        clock=clock,
        **kwargs,
    )


def _buy(cid: str, amount: str = "0.05", **kwargs: Any) -> OrderRequest:
    return OrderRequest(cid, "BTCUSDT", Side.BUY, Decimal(amount), **kwargs)


def test_two_instances_share_one_book_and_fill_once(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=10))
    source = LateSource(_frame(), START + timedelta(hours=3))
    a, b = _gateway(db_url, clock, source), _gateway(db_url, clock, source)
    a.place_orders([_buy("o1")])
    clock.now += timedelta(minutes=2)
    [held_b] = b.positions()  # b advances the book and fills the order
    [held_a] = a.positions()  # a sees b's fill instead of filling it again
    assert held_a == held_b
    assert len(a.fills(START)) == len(b.fills(START)) == 1
    b.set_stops("BTCUSDT", take_profit=Decimal(70_000), stop_loss=Decimal(40_000))
    assert a.positions()[0].stop_loss == 40_000  # a picked up b's stops
    reloads = a.book.reloads
    for _ in range(3):
        a.balance()
    assert a.book.reloads == reloads  # nothing changed elsewhere: nothing reloaded


def _reader(url: str, now: datetime, out: Any) -> None:
    source = LateSource(_frame(), START + timedelta(hours=3))
    gateway = _gateway(url, Clock(now), source)
    out.put([str(p.size) for p in gateway.positions()] + [len(gateway.fills(START))])


def test_processes_advancing_at_once_fill_a_pending_order_once(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=10))
    source = LateSource(_frame(), START + timedelta(hours=3))
    gateway = _gateway(db_url, clock, source)
    gateway.place_orders([_buy("o1"), _buy("o2", "0.02")])
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    later = START + timedelta(minutes=15)
    procs = [ctx.Process(target=_reader, args=(db_url, later, out)) for _ in range(4)]
    gateway.engine.dispose()  # no pooled connection may cross the fork
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert results == [["0.07", 2]] * 4
    clock.now = later
    assert len(gateway.fills(START)) == 2


def test_a_stop_on_a_bar_that_arrives_late_is_still_booked(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=10))
    source = LateSource(_frame(drop_at=20), START + timedelta(minutes=10))
    gateway = _gateway(db_url, clock, source)
    gateway.place_orders([_buy("o1", stop_loss=Decimal(55_000))])
    clock.now = START + timedelta(minutes=12)
    source.available = START + timedelta(minutes=12)
    assert gateway.positions()[0].stop_loss == 55_000
    clock.now = START + timedelta(minutes=23)  # the 07:20 crash bar has not arrived yet
    source.available = START + timedelta(minutes=19)
    assert len(gateway.positions()) == 1
    source.available = START + timedelta(minutes=23)  # now it has
    assert gateway.positions() == []
    reasons = [f.reason for f in gateway.fills(START)]
    assert reasons == [FillReason.REBALANCE, FillReason.STOP_LOSS]
    assert gateway.fills(START)[-1].timestamp == START + timedelta(minutes=20)


def test_funding_on_bars_that_arrive_late_is_still_booked(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=10))
    source = LateSource(_frame(), START + timedelta(minutes=10))
    gateway = _gateway(db_url, clock, source)
    gateway.place_orders([_buy("o1")])
    clock.now = START + timedelta(minutes=62)  # past the 08:00 settlement...
    source.available = START + timedelta(minutes=58)  # ...but the 07:59 bar is late
    assert gateway.positions()
    assert gateway.funding(START) == []
    source.available = clock.now
    [paid] = gateway.funding(START)
    assert paid.timestamp == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert paid.amount > 0


def test_a_bar_missing_past_the_late_limit_is_a_hole(db_url: str) -> None:
    clock = Clock(START + timedelta(minutes=10))
    source = LateSource(_frame(drop_at=20), START + timedelta(minutes=10))
    gateway = _gateway(db_url, clock, source, late_bars=timedelta(minutes=5))
    gateway.place_orders([_buy("o1", stop_loss=Decimal(55_000))])
    clock.now = START + timedelta(minutes=40)  # 07:20 has been missing for 19 minutes
    source.available = START + timedelta(minutes=15)
    assert gateway.positions()[0].stop_loss == 55_000
    source.available = clock.now  # arrives far too late: the book has moved past it
    assert len(gateway.positions()) == 1
