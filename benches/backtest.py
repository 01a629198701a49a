"""Backtest benchmark: N assets x D days of 1m bars, a strategy called every 5m.

    .venv/bin/python benches/backtest.py                 # 20 assets x 365 days (the target)
    .venv/bin/python benches/backtest.py --days 30       # a quicker look
    .venv/bin/python benches/backtest.py --real          # the runs on ../shared/data
    .venv/bin/python benches/backtest.py --case turnover --days 30   # the trade-heavy case
    .venv/bin/python benches/backtest.py --days 5 --interleave --repeats 3   # the Context's cost

Cases:

- ``momentum`` (default): the seed momentum strategy on futures, fees off (see --fee);
- ``turnover``: inverse-volatility weights over the last 60 one-minute returns, spot,
  fee 6 bps, threshold 0: every drift is re-traded (~10^5 orders a month).

Measures, for the same strategy function and the same rebalance times:

- **floor**: the strategy's own time, called once per rebalance with ``get_history``
  served straight from precomputed numpy arrays (a slice wrapped in a DataFrame);
- **total**: the wall time of ``aifap.backtest(...)`` (loading the bars onto the
  grid, history, resampling, parsing, planning, fills, SL/TP, equity, results);
- with ``--repeats N``, each repeat times both back to back (floor first in odd
  repeats, the backtest first in even ones) and prints its ratio; the best of each and
  the median of the ratios are reported;
- **the rule inside the run**: the strategy's calls timed inside the backtest itself
  (with the run's own ``get_history``); total / that has no drift between two phases of
  a shared machine's speed. It is the stricter figure while the run's frames cost no
  more than the floor's (``--interleave`` measures that);
- peak RSS of the process, and bars x assets per second of the backtest.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aifap  # noqa: E402
from aifap.backtest import compiled, engine  # noqa: E402
from aifap.core.bars import BAR_COLUMNS  # noqa: E402
from aifap.data.frames import default_market  # noqa: E402

try:  # the seed strategy, as shipped
    sys.path.insert(0, str(ROOT / "strategies"))
    from momentum import strategy as momentum
except ImportError:  # pragma: no cover - before strategies/ existed

    def momentum(context, config_dict):
        assets = list(config_dict["symbols"])
        prices = context.get_history(assets, window=100, frequency="1m", fields="close")
        returns = prices.pct_change(20, fill_method=None)
        positive = [a for a in assets if returns[a].iloc[-1] > 0] if len(returns) else []
        return {
            a: {
                "weight": 1.0 / len(positive),
                "presetStopSurplusPrice": prices[a].iloc[-1] * 1.05,
                "presetStopLossPrice": prices[a].iloc[-1] * 0.97,
            }
            for a in positive
        }


def inverse_volatility(context, config_dict):
    """Weights proportional to 1 / the standard deviation of the last 60 1m returns."""
    assets = list(config_dict["symbols"])
    prices = context.get_history(assets, window=61, frequency="1m", fields="close")
    volatility = prices.pct_change(fill_method=None).std()
    inverse = 1.0 / volatility
    return (inverse / inverse.sum()).to_dict()


CASES = {"momentum": momentum, "turnover": inverse_volatility}

# CPU time of this process: on a shared machine it moves far less with the load than the
# wall clock (which --wall selects); both sides of a ratio use the same clock.
clock = time.process_time

SHARED = ROOT.parent / "shared" / "data" / "ohlcv"
NS = 1_000_000_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ArraySource:
    """A minimal BarSource over generated frames (no copies, no validation)."""

    def __init__(self, frames: dict[str, pd.DataFrame], market: str = "futures") -> None:
        self.frames = frames
        self.market = market

    def symbols(self):
        return list(self.frames)

    def base_timeframe(self, symbol):
        return "1m"

    def bars(self, symbol, timeframe="1m", *, start=None, end=None, limit=None):
        return self.frames[symbol]

    def funding(self, symbol, *, start=None, end=None):
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")

    def markets(self):
        return {s: default_market(s, self.market) for s in self.frames}


def synthetic(
    assets: int, days: int, seed: int = 7, tick: float = 0.0
) -> dict[str, pd.DataFrame]:
    """Correlated geometric random walks at crypto-like levels, one bar a minute.

    ``tick`` > 0 puts the prices on that grid (the nearest float to a whole number of
    ticks), as exchange bars are; 0 leaves them raw floats (17 digits, no grid).
    """
    n = days * 1440
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    index = pd.date_range(start, periods=n, freq="1min", tz="UTC", name="timestamp")
    market = rng.standard_normal(n, dtype=np.float32)
    frames = {}
    for i in range(assets):
        sigma = (0.5 + 0.05 * i) / np.sqrt(525_600)
        own = rng.standard_normal(n, dtype=np.float32)
        r = sigma * (0.6 * market + 0.8 * own)
        close = (10.0 + 1000.0 * rng.random()) * np.exp(np.cumsum(r, dtype=np.float64))
        open_ = np.empty_like(close)
        open_[0] = close[0]
        open_[1:] = close[:-1]
        wick = np.abs(rng.standard_normal(n)) * sigma * 0.5
        prices = {
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wick),
            "low": np.minimum(open_, close) * np.exp(-wick),
            "close": close,
        }
        if tick > 0:
            per = round(1 / tick)
            prices = {k: np.rint(v * per) / per for k, v in prices.items()}
        frames[f"A{i:02d}USDT"] = pd.DataFrame(
            {**prices, "volume": np.ones(n)}, index=index
        )
        del own, r, wick
    return frames


class FloorContext:
    """get_history from precomputed arrays: what the floor measurement serves."""

    def __init__(self, closes: np.ndarray, index: pd.DatetimeIndex, columns: list[str]):
        self.closes = closes
        self.index = index
        self.columns = pd.Index(columns)
        self.row = 0

    def get_history(self, assets, window, frequency="1m", fields="close"):
        lo = max(0, self.row + 1 - window)
        return pd.DataFrame(
            self.closes[lo : self.row + 1],
            index=self.index[lo : self.row + 1],
            columns=self.columns,
        )


def floor_time(frames, rows, config, rule=momentum) -> float:
    symbols = list(frames)
    closes = np.column_stack([frames[s]["close"].to_numpy() for s in symbols])
    index = frames[symbols[0]].index
    ctx = FloorContext(closes, index, symbols)
    gc.collect()
    t = clock()
    for row in rows:
        ctx.row = row
        rule(ctx, config)
    return clock() - t


def rebalance_rows(index: pd.DatetimeIndex, base_seconds: int, every_seconds: int) -> np.ndarray:
    closes = index.as_unit("ns").asi8 + base_seconds * NS
    rows = np.flatnonzero(closes % (every_seconds * NS) == 0)
    return rows[rows < len(index) - 1]


def report(name, total, floor, bars, assets, rebalances, extra=""):
    print(f"\n== {name}")
    print(f"bars x assets      {bars:,} x {assets} = {bars * assets:,}")
    print(f"rebalances         {rebalances:,}")
    print(f"total (backtest)   {total:8.2f} s")
    print(f"floor (strategy)   {floor:8.2f} s")
    print(f"ratio total/floor  {total / floor:8.3f}")
    print(f"engine / rebalance {(total - floor) / max(rebalances, 1) * 1e6:8.0f} us")
    print(f"bars x assets / s  {bars * assets / total:,.0f}")
    print(f"peak RSS           {peak_rss_mb():,.0f} MB{extra}")


def interleaved(frames, case: str, kind: str, fee: float, threshold: float) -> None:
    """Time the rule on the floor's context and on the run's, at each rebalance of one run.

    Both calls of a rebalance run back to back, so a machine whose speed moves during
    the run moves both sides alike: their ratio is the cost of the run's ``Context`` and
    frames. What remains of the run's time is the engine's, inflated here by the floor
    call between its steps (it evicts the engine's code and data from the caches).
    """
    symbols = list(frames)
    rule = CASES[case]
    closes = np.column_stack([frames[s]["close"].to_numpy() for s in symbols])
    floor_ctx = FloorContext(closes, frames[symbols[0]].index, symbols)
    first_ns = int(frames[symbols[0]].index[0].value)
    spent = [0.0, 0.0]

    def both(context, config_dict):
        floor_ctx.row = (context.now.value - first_ns) // (60 * NS) - 1  # the bar closing now
        t0 = clock()
        rule(floor_ctx, config_dict)
        t1 = clock()
        out = rule(context, config_dict)
        spent[0] += t1 - t0
        spent[1] += clock() - t1
        return out

    gc.collect()
    t = clock()
    aifap.backtest(
        both, ArraySource(frames, kind), config={"symbols": symbols}, rebalance_every="5m",
        fee_rate=fee, market=kind, threshold=threshold, progress=False,
    )  # fmt: skip
    total = clock() - t
    floor, ours = spent
    print(
        f"  interleaved: the rule {ours / floor:.3f} x its floor-context time in the same "
        f"calls; the rest {(total - floor - ours) / floor:.3f} x floor (inflated)"
    )


def run_synthetic(
    assets: int,
    days: int,
    fee: float | None,
    case: str,
    repeats: int,
    tick: float = 0.0,
    interleave: bool = False,
) -> None:
    t = time.perf_counter()
    frames = synthetic(assets, days, tick=tick)
    print(f"generated {assets} x {days} days of 1m bars in {time.perf_counter() - t:.1f} s")
    symbols = list(frames)
    config = {"symbols": symbols}
    rule = CASES[case]
    if case == "turnover":
        kind, threshold, fee = "spot", 0.0, 0.0006 if fee is None else fee
    else:
        kind, threshold, fee = "futures", 0.01, 0.0 if fee is None else fee
    rows = rebalance_rows(frames[symbols[0]].index, 60, 300)
    source = ArraySource(frames, kind)
    if interleave:
        for _ in range(repeats):
            interleaved(frames, case, kind, fee, threshold)
        return
    best = None
    ratios = []
    in_run = []  # total / the rule's time inside the same run: no drift between two phases

    inside = [0.0]  # the rule's own time inside the last backtest

    def timed_rule(context, config_dict):
        t = clock()
        out = rule(context, config_dict)
        inside[0] += clock() - t
        return out

    def timed_backtest():
        gc.collect()
        inside[0] = 0.0
        t = clock()
        result = aifap.backtest(
            timed_rule, source, config=config, rebalance_every="5m", fee_rate=fee,
            market=kind, threshold=threshold, progress=False,
        )  # fmt: skip
        return clock() - t, result

    for i in range(repeats):  # floor and engine back to back, best of each (shared machine)
        # in turn floor first and backtest first: a machine slowing down (or speeding up)
        # during a repeat biases its ratio one way, then the other
        if i % 2:
            total, result = timed_backtest()
            floor = floor_time(frames, rows, config, rule)
        else:
            floor = floor_time(frames, rows, config, rule)
            total, result = timed_backtest()
        print(f"  repeat: floor {floor:.2f} s, total {total:.2f} s, ratio {total / floor:.3f}")
        print(f"          the rule inside that run {inside[0]:.2f} s: total / it "
              f"{total / inside[0]:.3f}")
        ratios.append(total / floor)
        in_run.append(total / inside[0])
        best = (min(best[0], total), min(best[1], floor)) if best else (total, floor)
    total, floor = best
    if len(ratios) > 1:  # a repeat's floor and total run back to back: steadier when busy
        print(f"  median of the repeats' ratios {statistics.median(ratios):.3f}")
        print(f"  median of total / the rule inside the run {statistics.median(in_run):.3f}")
    t = clock()
    orders = len(result.orders)  # built on first read (not part of total)
    built = clock() - t
    bars = len(frames[symbols[0]])
    report(f"{case}: synthetic {assets} assets x {days} days, 1m bars, {kind}, every 5m",
           total, floor, bars, assets, result.metrics["rebalances"],
           f"\nfee rate {fee}, threshold {threshold}, trades {result.metrics['trades']:,}, "
           f"dropped legs {result.metrics['dropped_legs']:,}, "
           f"final equity {result.metrics['final_equity']:,.2f}, ledger {result.config['ledger']}, "
           f"batch {engine.BATCH}"
           f"\norders frame      {orders:,} rows built on first read in {built:.2f} s")  # fmt: skip


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True).dt.as_unit("ns")
    frame.index.name = "timestamp"
    return frame[list(BAR_COLUMNS)]


def run_real() -> None:
    btc = {"BTCUSDT": read(SHARED / "futures/BTCUSDT_1m.csv.gz")}
    config = {"symbols": ["BTCUSDT"]}
    rows = rebalance_rows(btc["BTCUSDT"].index, 60, 300)
    floor = floor_time(btc, rows, config)
    t = clock()
    result = aifap.backtest(momentum, SHARED, symbols=["BTCUSDT"], config=config, progress=False)
    total = clock() - t
    report("real BTCUSDT_1m (Binance USDT-M, Jan 2022), rebalanced every 5m",
           total, floor, len(btc["BTCUSDT"]), 1, result.metrics["rebalances"],
           f"\nROE {result.metrics['roe']:.4f}, trades {result.metrics['trades']}")  # fmt: skip

    pairs = ["ADABTC", "DASHBTC", "ETCBTC", "ETHBTC", "LTCBTC",
             "NXTBTC", "TRXBTC", "XLMBTC", "XMRBTC", "ZECBTC"]  # fmt: skip
    frames = {p: read(SHARED / f"spot/{p}_5m.csv.gz") for p in pairs}
    grid = pd.date_range(
        min(f.index[0] for f in frames.values()),
        max(f.index[-1] for f in frames.values()),
        freq="5min",
        tz="UTC",
    )
    aligned = {p: f.reindex(grid) for p, f in frames.items()}
    config = {"symbols": pairs, "frequency": "5m"}
    rows = rebalance_rows(grid, 300, 300)
    floor = floor_time(aligned, rows, config)
    t = clock()
    result = aifap.backtest(
        momentum, SHARED, symbols=pairs, market="spot", capital=1.0, config=config,
        rebalance_every="5m", progress=False,
    )  # fmt: skip
    total = clock() - t
    report("real 10-pair BTC spot basket (Binance, Jan 2018), 5m bars, rebalanced every 5m",
           total, floor, len(grid), len(pairs), result.metrics["rebalances"],
           f"\nROE {result.metrics['roe']:.4f} (in BTC), "
           f"trades {result.metrics['trades']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--real", action="store_true", help="run on ../shared/data instead")
    parser.add_argument("--case", choices=sorted(CASES), default="momentum", help="workload")
    parser.add_argument("--repeats", type=int, default=1, help="runs; the best is reported")
    parser.add_argument(
        "--fee",
        type=float,
        default=None,
        help="fee rate of the synthetic run (momentum default 0: with fees the seed "
        "strategy's equity decays toward 0 and later rebalances drop their legs, a lighter "
        "workload; turnover default 0.0006)",
    )
    parser.add_argument(
        "--tick",
        type=float,
        default=0.01,
        help="synthetic prices on this grid, as exchange bars are (0: raw floats)",
    )
    parser.add_argument("--wall", action="store_true", help="time the wall clock, not CPU")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="instead: call the rule on the floor's context and on the run's at each "
        "rebalance of one run, timing both (the Context's cost on a drifting machine)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="rebalances the integer book books at a time (default: the engine's BATCH; "
        "1 books each right after its call)",
    )
    args = parser.parse_args()
    if args.batch is not None:
        if args.batch < 1:
            parser.error(f"--batch must be >= 1, was {args.batch}")
        engine.BATCH = args.batch
    if args.wall:
        global clock
        clock = time.perf_counter
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}, "
          f"pandas {pd.__version__}, numpy {np.__version__}")  # fmt: skip
    books = {state.split(":")[0] for state in compiled.STATE.values()}
    print(f"integer books: {', '.join(sorted(books))} ({compiled.PURE_ENV}=1: Python)")
    if args.real:
        run_real()
    else:
        run_synthetic(
            args.assets, args.days, args.fee, args.case, args.repeats, args.tick, args.interleave
        )


if __name__ == "__main__":
    main()
