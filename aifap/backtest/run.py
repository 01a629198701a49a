"""``aifap.backtest(...)``: validate the arguments, load the data, run, build the result."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aifap.backtest.data import load, parse_time
from aifap.backtest.engine import (
    CycleRecord,
    Engine,
    RunConfig,
    RunOutput,
    day_ends,
    rebalance_rows,
)
from aifap.backtest.log import REASONS, FillLog, text_array
from aifap.backtest.result import BacktestResult
from aifap.core import metrics as core_metrics
from aifap.core.errors import ConfigError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.markets import MarketType, to_decimal
from aifap.core.planner import DroppedLeg
from aifap.core.timeframes import timeframe_seconds
from aifap.history import NS
from aifap.strategy import StrategyFn, load_strategy

log = logging.getLogger(__name__)

PROGRESS_MIN_REBALANCES = 20_000  # progress=None shows a bar from this many rebalances on


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> Decimal:
    number = to_decimal(value)
    if not number.is_finite() or number < 0 or (number == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {rule}, was {value!r}")
    return number


def backtest(
    strategy: StrategyFn | str | Path,
    data: Any = None,
    *,
    symbols: list[str] | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    capital: float = 10_000,
    rebalance_every: str = "5m",
    market: str = "futures",
    leverage: float = 1,
    fee_rate: float = 0.0006,
    slippage_bps: float = 0,
    threshold: float = 0.01,
    config: Mapping[str, Any] | None = None,
    on_error: str = "raise",
    progress: bool | None = None,
    max_gross_weight: float = 1.0,
    timeframe: str | None = None,
    fill_model: FillModel | None = None,
    on_cycle: Callable[[CycleRecord], None] | None = None,
    ledger: str = "auto",
) -> BacktestResult:
    """Backtest ``strategy`` on ``data`` and return its equity, returns, trades and metrics.

    The strategy is called at every ``rebalance_every`` boundary with the bars up to
    and including that bar's close; its orders go through the same planner as live
    (:func:`aifap.core.planner.plan`) and fill at the next bar's open.

    Args:
        strategy: ``strategy(context, config_dict)``, a file path or ``module:function``.
        data: None (the built-in synthetic market), a directory of
            ``{SYMBOL}_{TIMEFRAME}.csv[.gz]`` files, a dict of DataFrames, or a BarSource.
        symbols: the tradable symbols (default: all of the data's).
        start: first time to trade (earlier bars still serve as history).
        end: last time considered (bars complete at ``end``).
        capital: starting allocation in the quote currency.
        rebalance_every: ``'1m'``, ``'5m'``, ``'1h'``… (a multiple of the base bars).
        market: ``'futures'`` (shorts, leverage, funding) or ``'spot'``.
        leverage: leverage of new exposure (notional = weight × equity × leverage).
        fee_rate: fee as a fraction of the notional of each fill.
        slippage_bps: adverse slippage of each fill, in basis points.
        threshold: trade only where ``|target − current weight| > threshold``.
        config: passed to the strategy as ``config_dict`` and ``context.config``.
        on_error: ``'raise'`` stops at a bad strategy output or exception; ``'skip'``
            logs it, records it in ``result.errors`` and skips that rebalance.
        progress: show a tqdm progress bar (None: only on long runs).
        max_gross_weight: the limit on Σ|weight| a strategy may return.
        timeframe: base timeframe to run on (default: the data's finest).
        fill_model: fees and slippage (default from ``fee_rate`` and ``slippage_bps``).
        on_cycle: called at every rebalance with what it decided (a
            :class:`~aifap.backtest.engine.CycleRecord`: targets, plan or error), as
            ``aifap.parity`` compares a session with its replay cycle by cycle.
        ledger: ``'auto'`` books the run in an exact integer book where its markets,
            fees and bars allow (:mod:`aifap.backtest.spotbook`,
            :mod:`aifap.backtest.futuresbook`: the same orders, fills, fees and
            stops, several times faster), else in the Decimal ledger; ``'decimal'``
            always uses the Decimal ledger. ``result.config['ledger']`` says which.

    Raises:
        ConfigError: an argument breaks a rule.
        StrategyError: the strategy raised or returned invalid targets (with
            ``on_error='raise'``); the message names the bar, symbol and rule.
        DataError: the data is missing or malformed.
    """
    fn = load_strategy(strategy)
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', was {on_error!r}")
    if ledger not in ("auto", "decimal"):
        raise ConfigError(f"ledger must be 'auto' or 'decimal', was {ledger!r}")
    try:
        kind = MarketType(market)
    except ValueError:
        raise ConfigError(f"market must be 'futures' or 'spot', was {market!r}") from None
    cap = _positive("capital", capital)
    lev = _positive("leverage", leverage)
    if kind is MarketType.SPOT and lev != 1:
        raise ConfigError(f"leverage must be 1 on spot, was {leverage!r}")
    thr = _positive("threshold", threshold, allow_zero=True)
    gross = _positive("max_gross_weight", max_gross_weight)
    try:
        step = timeframe_seconds(rebalance_every) * NS
    except ValueError as exc:
        raise ConfigError(f"rebalance_every: {exc}") from None
    start_ns, end_ns = parse_time(start, "start"), parse_time(end, "end")
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise ConfigError(f"end must be after start, was {end!r} <= {start!r}")
    loaded = load(
        data,
        market=kind,
        symbols=symbols,
        end=None if end_ns is None else pd.Timestamp(end_ns, tz="UTC").to_pydatetime(),
        timeframe=timeframe,
    )
    arrays = loaded.arrays
    for symbol, spec in loaded.markets.items():
        if lev > spec.max_leverage:
            raise ConfigError(
                f"{symbol}: leverage must be <= the market's maximum {spec.max_leverage}, "
                f"was {leverage!r}"
            )
    if step % arrays.step:
        raise ConfigError(
            f"rebalance_every must be a multiple of the base timeframe {arrays.timeframe}, "
            f"was {rebalance_every!r}"
        )
    first = 0 if start_ns is None else arrays.complete_rows(start_ns)
    last = arrays.length - 1
    if first > last:
        raise ConfigError(f"start must be before the data's end, was {start!r}")
    rows = rebalance_rows(arrays, step, first, last)
    cfg = RunConfig(
        capital=cap,
        leverage=lev,
        threshold=thr,
        max_gross_weight=gross,
        rebalance_step=step,
        first_row=first,
        last_row=last,
        on_error=on_error,
        config=dict(config or {}),
        on_cycle=on_cycle,
        integer_book=ledger == "auto",
    )
    model = fill_model or FillModel(
        NotionalFee(_positive("fee_rate", fee_rate, allow_zero=True)),
        BpsSlippage(_positive("slippage_bps", slippage_bps, allow_zero=True)),
    )
    engine = Engine(fn, arrays, loaded.markets, loaded.funding, model, cfg)
    show = len(rows) >= PROGRESS_MIN_REBALANCES if progress is None else progress
    if show:
        from tqdm.auto import tqdm

        with tqdm(total=len(rows), desc="backtest", unit="rebalance") as bar:
            out = engine.run(rows, bar.update)
    else:
        out = engine.run(rows)
    settings = {
        "symbols": list(arrays.symbols),
        "start": str(pd.Timestamp(int(arrays.times[first]), tz="UTC")),
        "end": str(pd.Timestamp(int(arrays.times[last]) + arrays.step, tz="UTC")),
        "capital": float(cap),
        "rebalance_every": rebalance_every,
        "market": kind.value,
        "leverage": float(lev),
        "fee_rate": float(fee_rate),
        "slippage_bps": float(slippage_bps),
        "threshold": float(thr),
        "timeframe": arrays.timeframe,
        "on_error": on_error,
        "ledger": engine.ledger_kind,
    }
    del arrays, loaded  # the bars are released once the results no longer need them
    return build_result(out, engine, settings)


def build_result(out: RunOutput, engine: Engine, settings: dict[str, Any]) -> BacktestResult:
    """Turn a run's raw output into a :class:`BacktestResult` (pyfolio formats)."""
    arrays, cfg = engine.arrays, engine.cfg
    first, last = cfg.first_row, cfg.last_row
    closes = arrays.times[first : last + 1] + arrays.step
    stamps = np.concatenate([[arrays.times[first]], closes])
    index = pd.DatetimeIndex(stamps.view("datetime64[ns]")).tz_localize("UTC")
    index.name = "timestamp"
    values = np.concatenate([[float(cfg.capital)], out.equity])
    equity = pd.Series(values, index=index, name="equity")
    returns = core_metrics.daily_returns(equity, initial=float(cfg.capital))
    positions = _positions(out, engine, closes, equity.to_numpy()[1:])
    del arrays
    engine.release_bars()  # the frames below need no bars: a year of 1m bars is ~400 MB
    trades = len(out.fills)
    transactions = _transactions(out)
    ledger = out.ledger
    table = core_metrics.summary(
        equity,
        initial=float(cfg.capital),
        trades=trades,
        fees=float(ledger.fees),
        funding=float(ledger.funding),
    )
    table["rebalances"] = out.rebalances
    table["skipped_rebalances"] = len(out.errors)
    table["dropped_legs"] = len(out.dropped)
    table["realized_pnl"] = float(ledger.realized_pnl)
    log, dropped = out.fills, out.dropped  # all the orders frame needs of the run
    return BacktestResult(
        equity=equity,
        returns=returns,
        positions=positions,
        transactions=transactions,
        orders=partial(_orders, log, dropped),  # built when first read; empties the log
        metrics=table,
        errors=list(out.errors),
        config=settings,
    )


def _positions(out: RunOutput, engine: Engine, closes: np.ndarray, pv: np.ndarray) -> pd.DataFrame:
    first = engine.cfg.first_row
    ends = day_ends(closes)  # the last bar of each UTC day
    rows = ends + first
    day = (closes[ends] - 1) // (86_400 * NS)
    state_rows = np.array(out.state_rows, dtype=np.int64)
    which = np.searchsorted(state_rows, rows, side="right") - 1
    held = np.stack([out.state_sizes[i] for i in which])  # size × contract size, per day end
    values = np.where(held == 0, 0.0, held * engine.close[rows])  # 0, not NaN, before a listing
    labels = pd.DatetimeIndex((day * 86_400 * NS).view("datetime64[ns]")).tz_localize("UTC")
    frame = pd.DataFrame(values, index=labels, columns=list(engine.symbols))
    frame = frame.loc[:, (frame != 0).any(axis=0)]
    frame["cash"] = pv[ends] - frame.sum(axis=1).to_numpy()
    frame.index.name = "timestamp"
    return frame


def _transactions(out: RunOutput) -> pd.DataFrame:
    log = out.fills
    columns = {
        "amount": log.signed_base(),
        "price": log.numbers("price").copy(),
        "symbol": log.symbol_names(),
    }
    return pd.DataFrame(columns, index=log.index(), copy=False)  # no consolidation copy


def _orders(log: FillLog, dropped: list[tuple[pd.Timestamp, DroppedLeg]]) -> pd.DataFrame:
    """Fills, then the dropped legs, in time order (fills first at one time), column by column.

    Each column is built from the log's typed arrays (text columns in Arrow from the
    log's codes), and the log's column is freed once its last use is done: the frame is
    assembled from the finished columns without a copy. Empties the log.
    """
    n, m = len(log), len(dropped)
    times = np.empty(n + m, dtype=np.int64)
    times[:n] = np.frombuffer(log.time_ns, dtype=np.int64)
    log.drop("time_ns")
    if m:
        times[n:] = pd.DatetimeIndex([bar for bar, _ in dropped]).as_unit("ns").asi8
    order = np.argsort(times, kind="stable") if m else None
    legs = [leg for _, leg in dropped]

    def arranged(filled: np.ndarray, rest: np.ndarray | float) -> np.ndarray:
        values = np.empty(n + m, dtype=filled.dtype)
        values[:n] = filled
        values[n:] = rest
        return values if order is None else np.asarray(values[order])

    def text(names: list[str], filled: np.ndarray, rest: list[str]) -> Any:
        codes = {name: code for code, name in enumerate(names)}
        for name in rest:
            codes.setdefault(name, len(codes))
        other = np.array([codes[name] for name in rest], dtype=np.int32)
        return text_array(list(codes), arranged(filled.astype(np.int32), other))

    columns: dict[str, Any] = {
        "timestamp": pd.DatetimeIndex(times if order is None else times[order]).tz_localize("UTC")
    }
    del times
    rows = np.arange(n) if order is None else np.where(order < n, order, -1)
    client_ids = log.client_ids(rows)  # NaN: a stop fill or a dropped leg
    del rows
    log.drop("cycle")
    log.drop("leg")
    columns["symbol"] = text(list(log.symbols), log.columns(), [leg.symbol for leg in legs])
    log.drop("column")
    sides = np.frombuffer(log.sell, dtype=np.int8)
    columns["side"] = text(
        ["buy", "sell"], sides, ["buy" if leg.amount > 0 else "sell" for leg in legs]
    )
    del sides
    log.drop("sell")
    for name, rest in (("amount", None), ("price", np.nan), ("fee", 0.0), ("realized_pnl", 0.0)):
        other = np.array([float(abs(leg.amount)) for leg in legs]) if rest is None else rest
        columns[name] = arranged(log.numbers(name), other)
        log.drop(name)
    reasons = np.frombuffer(log.reason, dtype=np.int8)
    columns["reason"] = text([r.value for r in REASONS], reasons, [leg.reason for leg in legs])
    del reasons
    log.drop("reason")
    columns["client_id"] = client_ids
    del client_ids
    status = np.zeros(n + m, dtype=np.int8)
    status[n:] = 1
    columns["status"] = text_array(
        ["filled", "dropped"], status if order is None else status[order]
    )
    log.release()
    return pd.DataFrame(columns, copy=False)  # no consolidation copy of the float columns
