"""``aifap.walk_forward(...)``: pick parameters on a train window, trade them on the next.

Windows roll over the data: train ``[t, t + train)``, test ``[t + train, t + train +
test)``, then ``t += step`` (default: ``test``, so the test windows tile the span).

What each backtest may see (no look-ahead, as a live run):

- a **train** backtest runs with ``start=train_start, end=train_end``: bars after
  ``train_end`` are not even loaded, so no test bar can reach the selection; bars
  before ``train_start`` serve as history (warm-up), as they would live;
- a **test** backtest runs the chosen parameters with ``start=test_start,
  end=test_end``: it trades only inside the test window and its warm-up history is
  the bars before ``test_start`` (the train window's bars included: a live session
  started at ``test_start`` would have them too); it starts flat with the capital.

The out-of-sample equity is the test windows' equity curves chained (each scaled to
start where the previous one ended); its metrics and tear sheet are the walk-forward's
result, and the gap between in-sample (train) and out-of-sample (test) objective is
reported per window and on average.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from aifap.backtest.data import base_timeframe
from aifap.core import metrics as core_metrics
from aifap.core.errors import ConfigError
from aifap.core.timeframes import parse_duration
from aifap.data.frames import FrameBarSource
from aifap.research.execute import Job, Outcome, Runner
from aifap.research.grid import check_grid, combinations
from aifap.research.objective import check_objective
from aifap.research.sweep import SweepResult, to_table
from aifap.strategy import StrategyFn


@dataclass
class WalkForwardResult:
    """The outcome of :func:`aifap.walk_forward`.

    Attributes:
        windows: one row per window: ``train_start``, ``train_end`` (= ``test_start``),
            ``test_end``, the chosen parameters, ``in_sample`` (the objective of the
            chosen parameters on the train window), ``out_of_sample`` (the objective
            on the test window), ``test_roe``, ``test_trades`` and ``error``.
        sweeps: each window's train sweep (every combination's row).
        equity: the stitched out-of-sample PV curve.
        returns: its daily returns (pyfolio's format).
        metrics: :func:`aifap.core.metrics.summary` of ``equity``.
        gap: ``in_sample`` and ``out_of_sample`` means over the windows and their
            difference ``gap = in_sample - out_of_sample`` (positive: worse out of sample).
        objective: the metric the train windows are ranked by.
    """

    windows: pd.DataFrame
    sweeps: list[SweepResult]
    equity: pd.Series
    returns: pd.Series
    metrics: dict[str, Any]
    gap: dict[str, float]
    objective: str
    params: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"WalkForwardResult({len(self.windows)} windows, out-of-sample "
            f"roe={self.metrics.get('roe')}, sharpe={self.metrics.get('sharpe')}, gap={self.gap})"
        )

    def tear_sheet(self, path: str | Path | None = None, **kwargs: Any) -> Any:
        """Build the pyfolio tear sheet of the stitched out-of-sample returns."""
        from aifap.analysis.tearsheet import create_tear_sheet

        kwargs.setdefault("title", "AIFAP walk-forward (out of sample)")
        return create_tear_sheet(self.returns, output=path, **kwargs)

    def save(self, directory: str | Path) -> Path:
        """Write ``windows.csv``, ``equity.csv``, ``returns.csv`` and each ``train_N.csv``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.windows.to_csv(out / "windows.csv", index=False)
        self.equity.rename("equity").to_csv(out / "equity.csv", index_label="timestamp")
        self.returns.rename("returns").to_csv(out / "returns.csv", index_label="timestamp")
        for i, result in enumerate(self.sweeps):
            result.table.to_csv(out / f"train_{i}.csv", index=False)
        return out


def walk_forward(
    strategy: StrategyFn | str | Path,
    data: Any = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    train: str | timedelta = "60d",
    test: str | timedelta = "14d",
    step: str | timedelta | None = None,
    objective: str = "sharpe",
    workers: int | None = None,
    scheduler: Any = None,
    processes: bool = True,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    **backtest_kwargs: Any,
) -> WalkForwardResult:
    """Walk-forward test of ``strategy`` over ``grid`` (see the module docstring).

    Args:
        strategy: as :func:`aifap.sweep`.
        data: as :func:`aifap.sweep`.
        grid: as :func:`aifap.sweep`; the best combination of each train window is run
            on its test window.
        objective: the metric each train window is ranked by.
        workers: as :func:`aifap.sweep`.
        scheduler: as :func:`aifap.sweep`.
        processes: as :func:`aifap.sweep`.
        progress: as :func:`aifap.sweep`.
        config: the base ``config_dict``.
        **backtest_kwargs: as :func:`aifap.sweep`; ``start`` / ``end`` bound the span
            the windows roll over.
        train: the train window's length (``"60d"``, ``"12h"``…).
        test: the test window's length.
        step: how far the windows move each time (default: ``test``).

    Raises:
        ConfigError: a bad grid, objective or window length, or the data is shorter
            than one train plus one test window.
    """
    space = check_grid(grid if grid is not None else {})
    check_objective(objective)
    train_td = _duration("train", train)
    test_td = _duration("test", test)
    step_td = _duration("step", step) if step is not None else test_td
    span_start = backtest_kwargs.pop("start", None)
    span_end = backtest_kwargs.pop("end", None)
    combos = combinations(space)
    names = list(space)
    with Runner(
        strategy,
        data,
        backtest_kwargs,
        config=config,
        workers=workers,
        scheduler=scheduler,
        processes=processes,
        progress=progress,
    ) as runner:
        first, last = _span(runner.source, backtest_kwargs.get("timeframe"))
        first = max(first, _stamp("start", span_start)) if span_start is not None else first
        last = min(last, _stamp("end", span_end)) if span_end is not None else last
        windows = _windows(first, last, train_td, test_td, step_td)
        train_jobs = [
            Job(w * len(combos) + c, params, {"start": tr0, "end": tr1})
            for w, (tr0, tr1, _) in enumerate(windows)
            for c, params in enumerate(combos)
        ]
        trained = runner.run(train_jobs, "walk-forward train")
        sweeps = [
            SweepResult(
                to_table(trained[w * len(combos) : (w + 1) * len(combos)], names),
                names,
                objective,
                {"start": str(tr0), "end": str(tr1)},
            )
            for w, (tr0, tr1, _) in enumerate(windows)
        ]
        test_jobs = [
            Job(w, result.best_params, {"start": tr1, "end": te1}, keep_equity=True)
            for w, ((_, tr1, te1), result) in enumerate(zip(windows, sweeps, strict=True))
            if len(result.ok)
        ]
        tested = {o.job.key: o for o in runner.run(test_jobs, "walk-forward test")}
    capital = float(backtest_kwargs.get("capital", 10_000))
    table = _window_table(windows, sweeps, tested, names, objective)
    equity = _stitch([tested[k] for k in sorted(tested) if tested[k].equity is not None], capital)
    if equity.empty:
        raise ConfigError(f"walk-forward: no test window ran; errors: {table['error'].tolist()}")
    ok = table[table["error"].isna()]
    in_sample = float(pd.to_numeric(ok["in_sample"], errors="coerce").mean())
    out_sample = float(pd.to_numeric(ok["out_of_sample"], errors="coerce").mean())
    gap = {"in_sample": in_sample, "out_of_sample": out_sample, "gap": in_sample - out_sample}
    return WalkForwardResult(
        windows=table,
        sweeps=sweeps,
        equity=equity,
        returns=core_metrics.daily_returns(equity, initial=capital),
        metrics=core_metrics.summary(equity, initial=capital),
        gap=gap,
        objective=objective,
        params=names,
    )


def _duration(name: str, value: str | timedelta) -> pd.Timedelta:
    try:
        td = pd.Timedelta(parse_duration(value))
    except (ValueError, TypeError):
        raise ConfigError(f"{name} must be a duration like '14d' or '12h', was {value!r}") from None
    if td <= pd.Timedelta(0):
        raise ConfigError(f"{name} must be a positive duration, was {value!r}")
    return td


def _stamp(name: str, value: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{name} must be a date or time, was {value!r}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _span(source: FrameBarSource, timeframe: str | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the first bar's open and the last bar's close over every symbol."""
    starts, ends = [], []
    for symbol in source.symbols():
        tf = base_timeframe(source, symbol, timeframe)
        bars = source.bars(symbol, tf)
        if len(bars):
            starts.append(bars.index[0])
            ends.append(bars.index[-1] + pd.Timedelta(tf))
    if not starts:
        raise ConfigError("data must hold bars for a walk-forward, found none")
    return _stamp("start", min(starts)), _stamp("end", max(ends))


def _windows(
    first: pd.Timestamp,
    last: pd.Timestamp,
    train: pd.Timedelta,
    test: pd.Timedelta,
    step: pd.Timedelta,
) -> list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]]:
    out = []
    start = first
    while start + train + test <= last:
        out.append((start, start + train, start + train + test))
        start += step
    if not out:
        raise ConfigError(
            f"train + test must fit in the data ({first} to {last}), was {train} + {test}"
        )
    return out


def _window_table(
    windows: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]],
    sweeps: list[SweepResult],
    tested: dict[int, Outcome],
    names: list[str],
    objective: str,
) -> pd.DataFrame:
    rows = []
    for w, ((tr0, tr1, te1), result) in enumerate(zip(windows, sweeps, strict=True)):
        row: dict[str, Any] = {"train_start": tr0, "train_end": tr1, "test_end": te1}
        outcome = tested.get(w)
        if outcome is None:
            row.update(dict.fromkeys(names))
            row["error"] = "every train combination failed: " + "; ".join(
                result.failed["error"].astype(str).tolist()
            )
        else:
            row.update(result.best_params)
            row["in_sample"] = result.best[objective]
            row["out_of_sample"] = outcome.metrics.get(objective)
            row["test_roe"] = outcome.metrics.get("roe")
            row["test_trades"] = outcome.metrics.get("trades")
            row["error"] = outcome.error
        rows.append(row)
    columns = ["train_start", "train_end", "test_end", *names]
    columns += ["in_sample", "out_of_sample", "test_roe", "test_trades", "error"]
    return pd.DataFrame(rows, columns=columns)


def _stitch(outcomes: list[Outcome], capital: float) -> pd.Series:
    """Chain the test windows' equity curves into one, each starting where the last ended."""
    parts: list[pd.Series] = []
    level = capital
    for outcome in outcomes:
        assert outcome.equity is not None
        curve = outcome.equity * (level / capital)
        if parts:
            curve = curve.iloc[1:]  # its first point is the previous window's last
        parts.append(curve)
        level = float(curve.iloc[-1]) if len(curve) else level
    if not parts:
        return pd.Series(dtype=float, name="equity")
    return pd.concat(parts).rename("equity")
