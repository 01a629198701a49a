"""What the integer books' tests share: bars on a grid, replayed outputs, equal results."""

from __future__ import annotations

import os
import re
from decimal import Decimal as D

import numpy as np
import pandas as pd

T0 = pd.Timestamp("2024-01-01", tz="UTC")
# random runs per property test (AIFAP_BOOK_EXAMPLES=4000 for a longer look)
EXAMPLES = int(os.environ.get("AIFAP_BOOK_EXAMPLES", "60"))


def frame(prices: np.ndarray, opens: np.ndarray | None = None) -> pd.DataFrame:
    """1m bars that open at the previous close (the first at its own), or at ``opens``."""
    if opens is None:
        opens = np.concatenate([[prices[0]], prices[:-1]])
    index = pd.date_range(T0, periods=len(prices), freq="1min", name="timestamp")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, prices),
            "low": np.minimum(opens, prices),
            "close": prices,
            "volume": 1.0,
        },
        index=index,
    )


def wicked(close: np.ndarray, wick: np.ndarray) -> pd.DataFrame:
    """1m bars on a 0.01 grid from T0: open at the previous close, ``wick`` (2 × n) out.

    ``close`` and ``wick`` on the grid; highs and lows rounded back onto it (a float sum
    of two grid prices may fall off it, which would hand a stop to the Decimal ledger).
    """
    open_ = np.r_[close[0], close[:-1]]
    index = pd.date_range(T0, periods=len(close), freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.round(np.maximum(open_, close) + wick[0], 2),
            "low": np.round(np.minimum(open_, close) - wick[1], 2),
            "close": close,
            "volume": 1.0,
        },
        index=index,
    )


def replay(outputs: list):
    """A strategy returning ``outputs`` in turn (a fresh iterator per run).

    A callable output is called with the last closes (a Series by symbol) and returns
    the output: stops placed around the price the strategy sees.
    """
    calls = iter(outputs)

    def strategy(context, config):
        output = next(calls)
        if callable(output):
            closes = context.get_history(list(context.universe), window=1).iloc[-1]
            return output(closes)
        return output

    return strategy


NUMBER = re.compile(r"-?\d+(\.\d+)?(E[-+]?\d+)?")


def stated(reason: str) -> str:
    """Return ``reason`` with its numbers normalized (``3.00`` and ``3.0`` read ``3``)."""
    return NUMBER.sub(lambda m: str(D(m.group()).normalize()), reason)


def assert_same(a, b) -> None:
    """Assert two results equal, bit for bit; texts may differ in a number's trailing zeros.

    A Decimal keeps the exponent its operations give it. The book gives a dropped leg's
    text the ledger's exponents (``aifap.backtest.spotbook.Exponents``), but for an
    amount the planner found to be a whole multiple of 10 steps (``1E+1 × 0.1`` prints
    ``1``, the book ``1.0``).
    """
    left, right = a.orders.copy(), b.orders.copy()
    for frame_ in (left, right):
        frame_["reason"] = frame_["reason"].map(stated)
    # the ledger's realized PnL comes from an entry price averaged to 28 digits; the
    # book's from the exact cost: they differ by that rounding, seen where a PnL cancels
    pnl, exact = left.pop("realized_pnl").to_numpy(), right.pop("realized_pnl").to_numpy()
    notional = (left["amount"] * left["price"].fillna(0)).to_numpy()
    assert (np.abs(pnl - exact) <= 1e-26 * notional + 2 * np.spacing(np.abs(exact))).all()
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    for name in ("transactions", "positions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    pd.testing.assert_series_equal(a.equity, b.equity, check_exact=True)
    assert a.equity.to_numpy().tobytes() == b.equity.to_numpy().tobytes()
    assert a.errors == b.errors
    assert a.metrics.keys() == b.metrics.keys()
    for key, value in a.metrics.items():
        other = b.metrics[key]
        assert value == other or (value != value and other != other), key


def assert_books_agree(run, bars, markets, outputs, knobs) -> None:
    """Run on the integer book and on the Decimal ledger; assert the same results."""
    fast = run(bars, markets, outputs, "auto", **knobs)
    exact = run(bars, markets, outputs, "decimal", **knobs)
    assert fast.config["ledger"].startswith("integer")
    assert exact.config["ledger"] == "decimal"
    assert_same(fast, exact)


def with_stops(weights: dict, tp: float | None, sl: float | None, alias: bool | None):
    """An output placing TP/SL at ``1 ± distance`` of each price the strategy sees.

    ``alias``: the keys ``take_profit`` / ``stop_loss`` (True), Bitget's (False), or
    (None) each spec other keys than the one before: the aliases in turn, every third
    spec without its take profit.
    """

    def output(closes):
        out = {}
        for i, (symbol, weight) in enumerate(weights.items()):
            price = closes[symbol]  # a numpy float64, as pandas gives it
            sign = 1.0 if weight > 0 else -1.0
            spec = {"weight": weight}
            aliased = i % 2 == 1 if alias is None else alias
            keys = ("take_profit", "stop_loss") if aliased else (
                "presetStopSurplusPrice", "presetStopLossPrice"
            )  # fmt: skip
            if tp is not None and (alias is not None or i % 3 != 2):
                spec[keys[0]] = price * (1 + sign * tp)
            if sl is not None:
                spec[keys[1]] = price * (1 - sign * sl)
            out[symbol] = spec
        return out

    return output
