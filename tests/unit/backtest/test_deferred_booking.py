"""The integer book books in batches; a strategy sees what booking at once would show.

The engine calls the strategy at every rebalance but books the book's rebalances in
batches. Reading ``context.portfolio`` books the queue first, so the account a strategy
sees, and so what it decides, is the one the Decimal ledger (booked at once) shows.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from books import wicked

import aifap
from aifap.backtest import engine as engine_module
from aifap.core.errors import StrategyError
from aifap.data.frames import FrameBarSource


def frames(seed: int, n: int = 3000, symbols: int = 3) -> dict[str, pd.DataFrame]:
    """Random walks on a 0.01 grid, wicks that touch stops now and then."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(symbols):
        close = np.round(50 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 0.002, n))), 2)
        wick = np.round(np.abs(rng.normal(0, 0.1, (2, n))) + (rng.random((2, n)) < 0.01), 2)
        out[f"S{i}USDT"] = wicked(close, wick)
    return out


def leaning(every: int, fail_at: frozenset[int] = frozenset()):
    """A strategy whose targets depend on the account it reads every ``every`` calls."""
    seen: list[tuple[pd.Timestamp, Decimal, dict[str, Decimal]]] = []
    calls = []

    def strategy(context, config):
        calls.append(1)
        n = len(calls)
        if n in fail_at:
            raise StrategyError(f"call {n} fails")
        symbols = list(config["symbols"])
        prices = context.get_history(symbols, window=2, fields="close").iloc[-1]
        tilt = 0.0
        if n % every == 0:
            account = context.portfolio
            sizes = {s: p.size for s, p in sorted(account.positions.items())}
            seen.append((context.now, account.equity, sizes))
            tilt = float(account.weight(symbols[0]))  # what it holds steers what it asks
        out = {}
        for i, symbol in enumerate(symbols):
            weight = round(0.25 + 0.1 * np.sin(n / 5 + i) - 0.05 * tilt, 6)
            price = float(prices[symbol])
            out[symbol] = {
                "weight": weight,
                "presetStopSurplusPrice": price * 1.02,
                "presetStopLossPrice": price * 0.98,
            }
        return out

    strategy.seen = seen
    return strategy


def run(strategy, data, ledger, market="futures", on_error="raise"):
    """Backtest ``strategy`` on ``data``; ledger 'auto' (the book) or 'decimal'."""
    return aifap.backtest(
        strategy,
        FrameBarSource(data, market=market),
        config={"symbols": list(data)},
        rebalance_every="5m",
        market=market,
        fee_rate=0.0006,
        progress=False,
        ledger=ledger,
        on_error=on_error,
    )


@pytest.mark.parametrize("market", ["futures", "spot"])
@pytest.mark.parametrize("every", [1, 7, 100])
def test_the_account_a_strategy_reads_is_the_one_booked_at_once(market, every):
    data = frames(every)
    book, ledger = leaning(every), leaning(every)
    on_book = run(book, data, "auto", market)
    on_ledger = run(ledger, data, "decimal", market)
    assert on_book.config["ledger"] == "integer"
    assert len(book.seen) == len(ledger.seen) > 3
    for (t1, equity1, sizes1), (t2, equity2, sizes2) in zip(book.seen, ledger.seen, strict=True):
        assert (t1, sizes1) == (t2, sizes2)
        # the book's realized PnL is exact, the ledger's rounds its entry to 28 digits
        assert abs(equity1 - equity2) < Decimal("1e-18")
    pd.testing.assert_frame_equal(
        on_book.orders.drop(columns="realized_pnl"), on_ledger.orders.drop(columns="realized_pnl")
    )
    pd.testing.assert_series_equal(on_book.equity, on_ledger.equity, check_exact=True)
    assert (on_book.orders.reason != "rebalance").sum() > 0  # stops fired between batches


def test_a_skipped_call_inside_a_batch_is_skipped_as_at_once(monkeypatch):
    data = frames(3)
    fails = frozenset({5, 40, 41, 300})
    on_book = run(leaning(9, fails), data, "auto", on_error="skip")
    on_ledger = run(leaning(9, fails), data, "decimal", on_error="skip")
    assert on_book.errors == on_ledger.errors
    assert len(on_book.errors) == len(fails)
    pd.testing.assert_series_equal(on_book.equity, on_ledger.equity, check_exact=True)


def test_batches_of_any_size_book_the_same(monkeypatch):
    data = frames(4)
    results = []
    for size in (1, 3, 64, 10_000):
        monkeypatch.setattr(engine_module, "BATCH", size)
        results.append(run(leaning(1_000_000), data, "auto"))
    for other in results[1:]:
        pd.testing.assert_frame_equal(results[0].orders, other.orders)
        pd.testing.assert_series_equal(results[0].equity, other.equity, check_exact=True)


@pytest.mark.parametrize("ledger", ["auto", "decimal"])
def test_pv_segments_evaluated_in_groups_of_any_size_give_the_same_equity(monkeypatch, ledger):
    data = frames(5)
    results = []
    for size in (1, 2, 7, 10_000):
        monkeypatch.setattr(engine_module, "SEGMENTS", size)
        results.append(run(leaning(1_000_000), data, ledger))
    assert (results[0].orders.reason != "rebalance").sum() > 0  # stops split stretches
    for other in results[1:]:
        pd.testing.assert_series_equal(results[0].equity, other.equity, check_exact=True)
    assert np.isfinite(results[0].equity.to_numpy()).all()


def test_the_heap_before_a_run_is_frozen_during_it_and_thawed_after():
    import gc

    data = frames(5, n=600)
    counts = []
    thresholds = []
    before = gc.get_threshold()

    def watching(context, config):
        counts.append(gc.get_freeze_count())
        thresholds.append(gc.get_threshold())
        return dict.fromkeys(config["symbols"], 0.2)

    assert gc.get_freeze_count() == 0
    run(watching, data, "auto")
    assert min(counts) > 1000  # pandas, numpy and the test's objects: skipped by full passes
    assert gc.get_freeze_count() == 0
    # young collections batched during the run, the thresholds restored after it
    assert set(thresholds) == {(engine_module.YOUNG_THRESHOLD, *before[1:])}
    assert gc.get_threshold() == before

    def failing(context, config):
        raise RuntimeError("boom")

    with pytest.raises(StrategyError):
        run(failing, data, "auto")
    assert gc.get_freeze_count() == 0  # thawed on the way out too
    assert gc.get_threshold() == before

    gc.freeze()  # someone else froze objects: left as it is
    try:
        frozen = gc.get_freeze_count()
        counts.clear()
        run(watching, data, "auto")
        # nothing more frozen nor thawed (a thaw empties the count); frozen objects that
        # die leave it, and in a long test session other tests' threads and caches may
        # free a few hundred of them meanwhile
        assert frozen // 2 < min(counts) <= max(counts) <= frozen
        assert frozen // 2 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()



def test_garbage_cycles_a_strategy_makes_are_still_collected_during_a_run():
    import gc
    import weakref

    class Node:
        """One reference cycle (a node holding itself): freed by the collector alone."""

        def __init__(self) -> None:
            self.me = self
            self.payload = [0.0] * 8

    alive: weakref.WeakSet[Node] = weakref.WeakSet()
    peak = [0]

    def cyclic(context, config):
        for _ in range(100):
            alive.add(Node())
        peak[0] = max(peak[0], len(alive))
        return None

    data = frames(6, n=3000)
    gc.collect()
    result = run(cyclic, data, "auto")
    calls = result.metrics["rebalances"]
    assert calls * 100 > 3 * engine_module.YOUNG_THRESHOLD  # enough garbage for passes
    # each cycle is 2 or 3 containers (the node, its list, maybe its dict): a young pass
    # runs at least every YOUNG_THRESHOLD of them
    assert 0 < peak[0] <= engine_module.YOUNG_THRESHOLD

def test_an_output_the_strategy_changes_later_is_booked_as_it_was_returned():
    data = frames(6)
    # one bar off the price grid: a stop there hands the account to the ledger mid-batch
    symbol = "S0USDT"
    data[symbol].iloc[2000, data[symbol].columns.get_loc("low")] -= 40.005

    def reusing():
        kept: dict = {}  # the same dicts every call, changed in place
        calls = []

        def strategy(context, config):
            calls.append(1)
            prices = context.get_history(list(config["symbols"]), window=1, fields="close")
            for i, s in enumerate(config["symbols"]):
                spec = kept.setdefault(s, {})
                price = float(prices[s].iloc[-1])
                spec["weight"] = round(0.25 + 0.05 * np.sin(len(calls) / 3 + i), 6)
                spec["presetStopLossPrice"] = price * 0.985
            return kept

        return strategy

    on_book = run(reusing(), data, "auto")
    on_ledger = run(reusing(), data, "decimal")
    assert on_book.config["ledger"].startswith("integer, then decimal from")
    pd.testing.assert_frame_equal(
        on_book.orders.drop(columns="realized_pnl"), on_ledger.orders.drop(columns="realized_pnl")
    )
    pd.testing.assert_series_equal(on_book.equity, on_ledger.equity, check_exact=True)
