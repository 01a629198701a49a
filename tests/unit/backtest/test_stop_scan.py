"""The engine's one look per stretch finds the stops a bar-by-bar scan finds.

Between two rebalances the engine compares each column's lowest low and highest high
of the stretch with the stops first, and scans the bars only where one is touched.
Here the same runs go through the bar-by-bar scan alone (every stretch "maybe
touched"): stop fills, their bars and prices, and the equity must be the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from books import wicked

import aifap
from aifap.backtest import engine as engine_module
from aifap.backtest.spotbook import clear_of
from aifap.data.frames import FrameBarSource


def walk(seed: int, holes: bool, n: int = 1500, symbols: int = 4) -> dict[str, pd.DataFrame]:
    """Random walks on a 0.01 grid, calm but for rare one-bar wicks of ~3 %.

    A stop 1.5–2.5 % away is then touched by one bar alone, wherever in its stretch:
    a look that skipped a bar would miss it. With ``holes``, one symbol misses bars.
    """
    rng = np.random.default_rng(seed)
    frames = {}
    for i in range(symbols):
        close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.001, n))), 2)
        spikes = rng.random((2, n)) < 0.02
        wick = np.round(np.abs(rng.normal(0, 0.05, (2, n))) + spikes * 3.0, 2)
        frame = wicked(close, wick)
        if holes and i == symbols - 1:  # the engine fills them from the close
            frame = frame.drop(index=frame.index[rng.choice(n, 40, replace=False)])
        frames[f"S{i}USDT"] = frame
    return frames


def tight_stops(context, config):
    """Long or short each symbol with stops 1.5–2.5 % away: only a wick touches one."""
    prices = context.get_history(list(config["symbols"]), window=3, fields="close")
    last = prices.iloc[-1]
    rng = np.random.default_rng(int(context.now.value // 60_000_000_000))
    out = {}
    for symbol in config["symbols"]:
        price = float(last[symbol])
        if price != price:
            continue
        side = -1.0 if config["shorts"] and rng.random() < 0.4 else 1.0
        up, down = price * (1 + rng.uniform(0.015, 0.025)), price * (1 - rng.uniform(0.015, 0.025))
        tp, sl = (up, down) if side > 0 else (down, up)
        out[symbol] = {
            "weight": side * 0.2,
            "presetStopSurplusPrice": tp,
            "presetStopLossPrice": sl,
        }
    return out


def run(frames, market, ledger):
    """Backtest ``tight_stops`` on ``frames``."""
    return aifap.backtest(
        tight_stops,
        FrameBarSource(frames, market=market),
        config={"symbols": list(frames), "shorts": market == "futures"},
        rebalance_every="15m",
        market=market,
        fee_rate=0.0004,
        progress=False,
        ledger=ledger,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("market", "holes", "book"),
    [("futures", False, "integer"), ("spot", False, "integer"), ("futures", True, "decimal")],
)
def test_one_look_per_stretch_finds_every_stop_a_bar_scan_finds(
    seed, market, holes, book, monkeypatch
):
    frames = walk(seed, holes)
    fast = run(frames, market, "auto")
    assert fast.config["ledger"] == book

    def every_bar(self):  # -inf: every stretch may touch a stop, scan its bars
        return np.full((len(self.starts), 2 * len(self.symbols)), -np.inf)

    monkeypatch.setattr(engine_module.Engine, "_stretch_extremes", every_bar)
    scanned = run(frames, market, "auto")
    stops = fast.orders[fast.orders.reason.isin(["stop_loss", "take_profit"])]
    assert len(stops) > 20  # the case is about stops
    pd.testing.assert_frame_equal(fast.orders, scanned.orders)
    pd.testing.assert_series_equal(fast.equity, scanned.equity, check_exact=True)


@pytest.mark.parametrize("ufunc", [np.fmin, np.fmax])
@pytest.mark.parametrize(
    "starts",
    [
        [0, 3, 8, 13, 18, 23],  # a first stretch of its own length, then every 5 rows
        [2, 7, 12, 17, 25],  # rows before the first start, a longer last stretch
        [0, 5, 10, 12, 17],  # irregular: reduceat itself
        [0, 1, 2, 3, 4, 5],  # one row each
        [0, 4],
    ],
)
def test_stretch_reductions_equal_reduceat(ufunc, starts):
    rng = np.random.default_rng(len(starts))
    values = rng.normal(100, 5, (30, 3))
    values[rng.random(values.shape) < 0.2] = np.nan  # holes: fmin/fmax skip them
    values[5:10, 1] = np.nan  # a whole stretch without a bar: NaN
    starts = np.asarray(starts)
    expected = ufunc.reduceat(values, starts, axis=0)
    np.testing.assert_array_equal(engine_module._per_stretch(ufunc, values, starts), expected)


def test_a_stretch_is_clear_of_the_stops_where_every_extreme_is_above_its_bound():
    rng = np.random.default_rng(5)
    nan = float("nan")
    for _ in range(500):
        n = int(rng.integers(1, 8))
        extremes = rng.normal(0, 1, 2 * n).round(1).tolist()
        limits = rng.normal(0, 1, 2 * n).round(1).tolist()
        for values in (extremes, limits):
            for i in np.flatnonzero(rng.random(2 * n) < 0.3):
                values[i] = nan
        touched = any(a <= b for a, b in zip(extremes, limits, strict=True))
        assert clear_of(extremes, limits) is (not touched), (extremes, limits)
