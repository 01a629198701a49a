"""Feasibility measure (issue 11): a turnover rebalance's own work as an int64 numpy book.

    .venv/bin/python benches/int_book_spike.py [--rebalances 20000]

Not product code and not the engine: it answers "what would the engine cost per
rebalance if the book were integers, vectorized over symbols?", against the budget the
issue's targets leave (benches/README.md, "Sixth look"). The work per rebalance is the
turnover case's: 20 spot symbols, a dict of float weights (Σ = 1) every call, threshold
0, fee 6 bps (in the base coin on buys, in quote on sells), min notional 5 USDT.

Units: amounts in steps (1e-6), sizes in 1e-10 base (a buy's base fee is rate ×
amount = 1e-4 × 1e-6), prices in ticks (1e-2), cash in 1e-12 quote (a sell's fee:
1e-4 × 1e-6 × 1e-2). Each rebalance: the weights to an array, equity, the planner's
target amounts in float64 with the same exactness guard as ``aifap.backtest.fastplan``
(ambiguous legs are counted: they would go to the Decimal path), min notional, sells
before buys, buys capped by the cash in symbol order (a cumulative sum), fees, the
ledger, and the fill log (one array appended per column).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

N = 20
STEP_TO_SIZE = 10**4  # size units (1e-10 base) per amount step (1e-6)
RATE_NUM, RATE_DEN = 6, 10**4  # 6 bps
CASH_PER_COST = 10**4  # cash units (1e-12) per step × tick (1e-8)
MIN_NOTIONAL = 5 * 10**12  # cash units
GUARD = 1e-9  # relative distance to a step boundary under which float64 cannot decide


class Book:
    """An int64 spot book of ``N`` symbols and its fill log (columns of arrays)."""

    def __init__(self, symbols: list[str], capital: int) -> None:
        self.symbols = symbols
        self.size = np.zeros(len(symbols), dtype=np.int64)
        self.cash = capital * 10**12
        self.ambiguous = 0
        self.log: dict[str, list[np.ndarray]] = {"col": [], "steps": [], "price": [], "fee": []}

    def _record(self, cols: np.ndarray, steps: np.ndarray, price: np.ndarray, fee: np.ndarray):
        for name, values in (("col", cols), ("steps", steps), ("price", price), ("fee", fee)):
            self.log[name].append(values)

    def rebalance(self, weights: dict[str, float], ticks: np.ndarray) -> None:
        """Trade the book to ``weights`` at ``ticks`` (one price per symbol, in ticks)."""
        w = np.fromiter(map(weights.__getitem__, self.symbols), float, len(self.symbols))
        size = self.size
        equity = self.cash + int((size // STEP_TO_SIZE * ticks * CASH_PER_COST).sum())
        want = w * (equity / CASH_PER_COST) / ticks  # steps, float64
        have = size / STEP_TO_SIZE
        delta = want - have
        steps_f = np.trunc(delta)  # ROUND_DOWN: toward zero
        frac = np.abs(delta - steps_f)
        guard = GUARD * (np.abs(want) + np.abs(have) + 1.0)
        self.ambiguous += int(np.count_nonzero((frac < guard) | (1.0 - frac < guard)))
        steps = steps_f.astype(np.int64)
        cost = np.abs(steps) * ticks * CASH_PER_COST
        trade = (steps != 0) & (cost >= MIN_NOTIONAL)
        sells = np.flatnonzero(trade & (steps < 0))
        buys = np.flatnonzero(trade & (steps > 0))
        if sells.size:
            proceeds = cost[sells]
            fee = proceeds * RATE_NUM // RATE_DEN
            size[sells] += steps[sells] * STEP_TO_SIZE
            self.cash += int(proceeds.sum() - fee.sum())
            self._record(sells, steps[sells], ticks[sells], fee)
        if buys.size:
            spent = cost[buys]
            fits = np.cumsum(spent) <= self.cash
            buys, spent = buys[fits], spent[fits]
            fee = steps[buys] * STEP_TO_SIZE * RATE_NUM // RATE_DEN
            size[buys] += steps[buys] * STEP_TO_SIZE - fee
            self.cash -= int(spent.sum())
            self._record(buys, steps[buys], ticks[buys], fee)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebalances", type=int, default=20_000)
    args = parser.parse_args()
    rows = args.rebalances
    rng = np.random.default_rng(1)
    symbols = [f"A{i:02d}USDT" for i in range(N)]
    walk = np.exp(np.cumsum(rng.standard_normal((rows, N)) * 0.002, axis=0))
    ticks = np.rint(rng.uniform(10, 1000, N) * walk * 100).astype(np.int64)
    raw = rng.uniform(0.5, 1.5, (rows, N))
    weights = [dict(zip(symbols, (x / x.sum()).tolist(), strict=True)) for x in raw]
    book = Book(symbols, capital=10_000)
    started = time.process_time()
    for row in range(rows):
        book.rebalance(weights[row], ticks[row])
    spent = time.process_time() - started
    fills = sum(len(c) for c in book.log["col"])
    print(
        f"{spent / rows * 1e6:.1f} µs CPU per rebalance, {fills / rows:.1f} fills each, "
        f"{book.ambiguous} of {rows * N} legs ambiguous in float64, cash left "
        f"{book.cash / 1e12:.2f}"
    )


if __name__ == "__main__":
    main()
