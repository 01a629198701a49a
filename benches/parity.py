"""Benchmark: the parity comparison and decomposition of a long session, without the replay.

Builds two sides (a session and its backtest) of a 30-day session rebalancing 3
symbols every 5 minutes on 1m bars (8640 cycles, every cycle trading every symbol,
a tenth of the session's orders filled in two parts, a stop a day on each side) and
times :func:`aifap.replay.decompose.decompose` and
:func:`aifap.replay.compare.cycle_rows` on them. The backtest that ``aifap parity``
runs first is the backtester's own benchmark (``benches/backtest.py``).

    .venv/bin/python benches/parity.py [--days 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time
from decimal import Decimal

import numpy as np
import pandas as pd

from aifap.core.weights import TargetWeight
from aifap.replay.compare import cycle_rows
from aifap.replay.decompose import decompose
from aifap.replay.records import CycleView, SideView, Trade
from aifap.replay.rerun import Marks

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
STEP = 60_000
EVERY = 5


def _marks(days: int) -> Marks:
    bars = days * 1440
    index = pd.date_range("2024-06-01", periods=bars, freq="1min", tz="UTC")
    rng = np.random.default_rng(1)
    frames = {}
    for n, symbol in enumerate(SYMBOLS):
        path = (100.0 * (n + 1)) * np.exp(np.cumsum(rng.normal(0, 0.001, bars)))
        opens = np.round(path, 2)
        frames[symbol] = pd.DataFrame({"open": opens, "close": np.r_[opens[1:], opens[-1]]},
                                      index=index)  # fmt: skip
    return Marks(STEP, frames)


def _side(name: str, marks: Marks, seed: int) -> SideView:
    rng = random.Random(seed)
    t0 = int(marks.frames[SYMBOLS[0]].index[0].value // 1_000_000)
    bars = len(marks.frames[SYMBOLS[0]])
    cycles: dict[int, CycleView] = {}
    trades: list[Trade] = []
    for bar in range(EVERY, bars - 2, EVERY):
        time_ms = t0 + bar * STEP
        view = CycleView(time_ms, ran=True, number=bar // EVERY)
        view.targets = {s: TargetWeight(s, Decimal("0.3")) for s in SYMBOLS}
        for symbol in SYMBOLS:
            qty = Decimal(rng.randint(-20, 20)) / 100
            if not qty:
                continue
            cid = f"{name}-{bar}-{symbol}"
            view.planned[symbol] = qty
            view.orders[symbol] = [cid]
            price = marks.at(symbol, time_ms)
            first = qty if name == "backtest" or rng.random() > 0.1 else qty * Decimal("0.4")
            trades.append(Trade(time_ms, symbol, first, price, abs(first) * price * Decimal(
                "0.0006"), "USDT", "rebalance", cid))  # fmt: skip
            if first != qty:
                later = time_ms + STEP
                trades.append(Trade(later, symbol, qty - first, marks.at(symbol, later),
                                    Decimal(0), "USDT", "rebalance", cid))  # fmt: skip
        cycles[time_ms] = view
        if bar % 1440 == rng.randint(0, 1439) // EVERY * EVERY:
            trades.append(Trade(time_ms + 30_000, SYMBOLS[0], Decimal("-0.1"),
                                marks.at(SYMBOLS[0], time_ms) * Decimal("0.98"), Decimal(0),
                                "USDT", "stop_loss"))  # fmt: skip
    trades.sort(key=lambda t: t.ts_ms)
    return SideView(name, cycles, trades, Decimal("1.5"), Decimal(0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    marks = _marks(args.days)
    session, backtest = _side("session", marks, 1), _side("backtest", marks, 2)
    quotes = dict.fromkeys(SYMBOLS, "USDT")
    print(f"load average {os.getloadavg()[0]:.2f}; {len(session.cycles)} cycles, "
          f"{len(session.trades)} + {len(backtest.trades)} fills")  # fmt: skip
    for name, fn in (
        ("decompose", lambda: decompose(session, backtest, marks, Decimal(10_000), quotes)),
        ("cycle_rows", lambda: cycle_rows(session, backtest)),
    ):
        walls, cpus = [], []
        for _ in range(args.runs):
            cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
            start = time.perf_counter()
            fn()
            walls.append(time.perf_counter() - start)
            cpus.append(resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0)
        print(f"{name}: median wall {statistics.median(walls):.2f} s, "
              f"median CPU {statistics.median(cpus):.2f} s over {args.runs} runs")  # fmt: skip
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
