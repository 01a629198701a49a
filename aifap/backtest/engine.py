"""The backtest loop: strategy -> core planner -> fill model -> ledger, over aligned bars.

Timing: at each rebalance bar the strategy sees every bar up to and including that
bar's close (``context.now`` = its close time); the planner sizes orders at that
close; the orders fill at the **next** bar's open. Between rebalances positions only
change through SL/TP triggers and funding; that stretch is evaluated with float64
numpy over whole blocks of bars, and Decimal is used only when something is booked.

Spot: a buy fills for at most the cash left when it fills (``FillModel.market_fill``'s
``cash``), its fee comes out of the base received; a buy of which not one amount step
fits is dropped with the reason.

Holes: a bar missing for a symbol is not shown to the strategy, but for accounting
its price stays at the last close (a flat bar), so orders due then fill at that price.

The account: the Decimal :class:`~aifap.core.ledger.Ledger`, or, where the run allows
(prices on a decimal grid, the core fee model, no slippage), an exact integer book with
the same results (:mod:`aifap.backtest.spotbook`, :mod:`aifap.backtest.futuresbook`);
a run leaves the book for the ledger where the book cannot go on.

On the integer book, the strategy is called at each rebalance and its output checked
at once, but the book plans, fills and books them in batches (:data:`BATCH` rebalances,
each after the stops and funding of the bars before it): the strategy's calls run back
to back, and so do the book's, each keeping its own data in the CPU's caches. Nothing
a strategy can see depends on the bookings but ``context.portfolio``; reading it books
the queue first. The results are those of booking each rebalance right after its call.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from aifap.backtest.data import funding_events
from aifap.backtest.execute import Ordered, execute_orders, execute_through_fills
from aifap.backtest.fastplan import plan_book
from aifap.backtest.futuresbook import FuturesBook
from aifap.backtest.log import NO_CYCLE, REASON_CODES, FillBuffer, FillLog
from aifap.backtest.spotbook import Goals, Rebalanced, SpotBook, clear_of
from aifap.context import Context
from aifap.core.errors import StrategyError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee, stop_trigger
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import OrderRequest, Side
from aifap.core.planner import DroppedLeg, Plan, plan
from aifap.core.portfolio import Portfolio
from aifap.core.weights import TargetWeight
from aifap.history import NS, BarArrays
from aifap.strategy import StrategyFn, call_strategy, validate_output

log = logging.getLogger(__name__)

# sizes × contract size per column: an array (the Decimal ledger's) or a tuple (the book's)
Weights = np.ndarray | tuple[float, ...]
BATCH = 256  # rebalances called before the integer book books them (see the docstring)
SEGMENTS = 1024  # stretches of bars whose PV is evaluated at once (see Engine._write)
YOUNG_THRESHOLD = 10_000  # containers made, not freed, before a young collection (frozen_heap)
EXTREME_ROWS = 256  # stretches whose extremes are read into lists at once (Engine._clear)


class Called(NamedTuple):
    """A rebalance whose strategy was called, to be booked (see :meth:`Engine._drain`)."""

    cycle: int
    row: int
    bar: pd.Timestamp
    goals: Goals | None  # the output as the book reads it (None: no opinion, or it cannot)
    targets: dict[str, TargetWeight] | None  # the output validated, where the book read none
    closes: list[float] | None  # the closes it was planned at; None: skipped (an error)


@dataclass(frozen=True)
class CycleRecord:
    """What one rebalance decided, for an observer (``backtest(..., on_cycle=...)``).

    ``targets`` is None when the strategy had no opinion (or failed: ``error``);
    ``plan`` is None when nothing was planned (no opinion, or flat and holding nothing).
    """

    cycle: int
    now: pd.Timestamp
    targets: dict[str, TargetWeight] | None
    plan: Plan | None
    error: str | None = None
    prices: Mapping[str, float] = field(default_factory=dict)  # the closes it decided on
    state: Any = None  # ``context.state`` after the call (the live object, not a copy)


@dataclass
class RunConfig:
    """The knobs of one run (already validated by :func:`aifap.backtest`)."""

    capital: Decimal
    leverage: Decimal
    threshold: Decimal
    max_gross_weight: Decimal
    rebalance_step: int  # ns
    first_row: int
    last_row: int
    on_error: str = "raise"
    session_id: str = "backtest"
    config: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False
    on_cycle: Callable[[CycleRecord], None] | None = None
    integer_book: bool = True  # an exact integer book (spot or futures) where the run allows it


@dataclass
class RunOutput:
    """Raw results the :class:`BacktestResult` is built from."""

    equity: np.ndarray  # PV at the close of rows first_row..last_row
    fills: FillLog
    dropped: list[tuple[pd.Timestamp, DroppedLeg]]
    errors: list[tuple[pd.Timestamp, str]]
    state_rows: list[int]  # the row from which each state holds
    state_sizes: list[Weights]  # its sizes × contract size
    rebalances: int
    ledger: Ledger


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _filled(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), fallback, values)


def _ffill(values: np.ndarray) -> np.ndarray:
    if not np.isnan(values).any():
        return values
    return np.asarray(pd.DataFrame(values).ffill().to_numpy())


def _per_stretch(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Return ``ufunc.reduceat(values, starts, axis=0)``: each stretch's reduction.

    ``starts`` increase. Where the stretches between the first and the last are of
    one length (rebalances at a fixed step), those are one reshaped reduction:
    ``reduceat`` down the rows is a strided pass, ~7x slower over a year of bars.
    """
    if starts.size < 3:
        return ufunc.reduceat(values, starts, axis=0)
    step = int(starts[2] - starts[1])
    if step <= 0 or not (np.diff(starts[1:]) == step).all():
        return ufunc.reduceat(values, starts, axis=0)
    out = np.empty((starts.size, values.shape[1]), dtype=values.dtype)
    first, last = int(starts[1]), int(starts[-1])
    out[0] = ufunc.reduce(values[int(starts[0]) : first], axis=0)
    out[1:-1] = ufunc.reduce(values[first:last].reshape(-1, step, values.shape[1]), axis=1)
    out[-1] = ufunc.reduce(values[last:], axis=0)
    return out


class Engine:
    """Run one strategy over :class:`BarArrays` (see the module docstring).

    Its attributes are slots: see :class:`aifap.backtest.spotbook.SpotBook`.
    """

    __slots__ = (
        "_seen", "armed", "arrays", "book", "booked_from", "calling", "cash", "cfg",
        "close", "context", "cs", "cs_list", "cursor", "day_ends", "dirty", "dropped",
        "equity", "errors", "extreme_from", "extreme_rows", "extremes", "f_cols", "f_next",
        "f_rates", "f_rows", "fast",
        "fill_model", "fills", "flat", "former", "holes", "ledger", "left_book", "limits",
        "markets", "marks", "open", "pending", "queue", "segments", "size", "starts",
        "state_rows", "state_sizes", "strategy", "stretch", "symbols", "unit_cs",
        "weights", "wicks"
    )  # fmt: skip

    def __init__(
        self,
        strategy: StrategyFn,
        arrays: BarArrays,
        markets: Mapping[str, MarketSpec],
        funding: Mapping[str, pd.Series],
        fill_model: FillModel,
        cfg: RunConfig,
    ) -> None:
        """Prepare the accounting prices, the schedule and the account."""
        self.strategy = strategy
        self.arrays = arrays
        self.markets = dict(markets)
        self.fill_model = fill_model
        # FillModel's own fills are booked without Fill objects; another model's fills
        # (a subclass, a wrapper) go through its market_fill and Ledger.apply
        self.fast = type(fill_model) is FillModel
        self.cfg = cfg
        self.symbols = arrays.symbols
        f = arrays.fields
        self.close = _ffill(f["close"])
        holes = self.close is not f["close"]
        self.holes = holes  # some symbol misses a bar (its raw close is NaN there)
        self.open = _filled(f["open"], self.close) if holes else f["open"]
        # marks for the PV product: 0 before a symbol's first bar (never held then)
        self.marks = np.nan_to_num(self.close) if np.isnan(self.close).any() else self.close
        self.cs = np.array([float(markets[s].contract_size) for s in self.symbols])
        self.cs_list: list[float] = self.cs.tolist()
        self.unit_cs = bool((self.cs == 1.0).all())  # x × 1.0 is x: weights are sizes
        self.ledger = Ledger(cfg.capital, self.markets, leverage=cfg.leverage)
        n = len(self.symbols)
        self.size = np.zeros(n)
        # trigger levels: a bar's low <= down or high >= up touches a stop (NaN: none)
        # [down..., −up...]: compared with a stretch's [min low, −max high] (see _touched);
        # a list: on the integer book, the book's own (it keeps them as it books)
        self.limits: list[float] = [math.nan] * (2 * n)
        self.extremes: np.ndarray | None = None  # per stretch, built when a stop is first set
        # EXTREME_ROWS rows of extremes as lists, from stretch extreme_from on (_clear)
        self.extreme_rows: list[list[float]] = []
        self.extreme_from = 0
        self.stretch = 0  # which stretch of the schedule run() is advancing through
        self.starts: list[int] = []  # each stretch's first row
        self.armed = False  # whether a stop was ever set (else no bar is checked against them)
        # per column, the last (size, its float) read from the ledger
        self._seen: list[tuple[object, float]] = [(None, 0.0)] * n
        # size × contract size per column: replaced, never changed in place (the states and
        # the PV's segments keep it); a tuple of floats on the integer book (one tuple
        # from its list, not an array a rebalance: see _write_segments)
        self.weights: Weights = np.zeros(n)
        self.cash = float(cfg.capital)  # the account's cash: PV = cash + marks @ weights
        self.dirty = False
        self.flat = True  # no position (weights all 0), read after a refresh
        self.f_rows, self.f_cols, self.f_rates = funding_events(funding, arrays)
        self.f_next = 0
        self.equity = np.empty(cfg.last_row - cfg.first_row + 1)
        self.segments: list[tuple[int, int, Weights, float]] = []  # see _write
        self.fills = FillLog(self.symbols, self.cs_list, cfg.session_id)
        self.dropped: list[tuple[pd.Timestamp, DroppedLeg]] = []
        self.errors: list[tuple[pd.Timestamp, str]] = []
        # the book's sizes × contract size from each row on (two lists: a (row, sizes)
        # tuple per state would stay tracked by the garbage collector; a tuple of floats
        # does not, once collected); only states a day ends in are kept (_state_changed)
        self.state_rows: list[int] = [cfg.first_row]
        self.state_sizes: list[Weights] = [np.zeros(n)]
        close_times = arrays.times[cfg.first_row : cfg.last_row + 1] + arrays.step
        # the rows each UTC day ends at, those not reached by a state yet (reversed: popped)
        self.day_ends = (day_ends(close_times) + cfg.first_row).tolist()[::-1]
        self.context = Context(arrays, config=cfg.config, mode="backtest")
        self.book: SpotBook | None = None  # built by run(), from the rows it trades at
        self.pending = FillBuffer(self.fills)  # the book's fills, on their way to the log
        self.booked_from: int | None = None  # the first row the book kept the account at
        self.queue: list[Called] = []  # rebalances called, not booked yet (see _drain)
        self.former: SpotBook | None = None  # the book the account left (see _leave_book)
        self.calling = (0, 0)  # the (cycle, row) whose strategy call is running
        self.cursor = cfg.first_row  # the first row not carried through yet (see _advance)
        self.left_book: pd.Timestamp | None = None  # when the ledger took over from the book
        self.wicks: tuple[np.ndarray, np.ndarray] | None = None  # (highs, lows): see _wicks

    def _wicks(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the highs and lows (the close over a hole), read once a stop is set."""
        if self.wicks is None:
            f = self.arrays.fields
            if self.holes:
                self.wicks = (_filled(f["high"], self.close), _filled(f["low"], self.close))
            else:
                self.wicks = (f["high"], f["low"])
        return self.wicks

    def _int_book(self, rebalance_rows: np.ndarray) -> SpotBook | None:
        """Return the exact integer book where the run allows it (spot or futures).

        See ``aifap.backtest.spotbook`` and ``aifap.backtest.futuresbook``. Its prices
        are the closes it plans at and the next opens it fills at: only those rows need
        to lie on a decimal grid (a stop's bar is checked when it triggers).
        """
        model, cfg = self.fill_model, self.cfg
        if not cfg.integer_book or not self.fast or cfg.on_cycle is not None:
            return None
        if self.holes:
            return None
        fees, slippage = model.fees, model.slippage
        if type(fees) is not NotionalFee:
            return None
        if type(slippage) is not BpsSlippage or slippage.bps != 0:
            return None
        closes, opens = self.close[rebalance_rows], self.open[rebalance_rows + 1]
        kinds = {m.market_type for m in self.markets.values()}
        if kinds == {MarketType.FUTURES}:
            return FuturesBook.build_futures(
                self.symbols, self.markets, cfg.capital, fees.rate, cfg.leverage, opens, closes,
                self.f_rates,
            )  # fmt: skip
        if cfg.leverage != 1 or self.f_rows.size:
            return None
        return SpotBook.build(self.symbols, self.markets, cfg.capital, fees.rate, opens, closes)

    @property
    def ledger_kind(self) -> str:
        """Tell which book kept the account: ``integer``, ``decimal``, or both in turn."""
        if self.booked_from is None:
            return "decimal"
        if self.left_book is None:
            return "integer"
        return f"integer, then decimal from {self.left_book}"

    def _leave_book(self, bar: pd.Timestamp) -> None:
        """Move the account from the integer book to the Decimal ledger, for the rest of the run."""
        assert self.book is not None
        self.ledger = self.book.ledger(self.ledger)
        self.former, self.book = self.book, None
        self.limits = list(self.limits)  # the ledger's from here on, not the book's
        self.left_book = bar
        self.pending.flush()
        self._sync_many(self.symbols)

    def release_bars(self) -> None:
        """Drop this engine's references to the bars, once the run's results need no bars.

        The bars themselves are freed when nothing else holds them (a strategy may keep
        its ``context``, and with it the history, alive).
        """
        for name in ("open", "wicks", "close", "marks", "context", "arrays"):
            setattr(self, name, None)

    # -- bookkeeping ------------------------------------------------------------------

    def _bar_time(self, row: int) -> pd.Timestamp:
        return pd.Timestamp(self.arrays.start_ns + row * self.arrays.step, tz=UTC)

    def _sync(self, symbol: str) -> None:
        self._sync_many((symbol,))

    def _sync_many(self, symbols: Iterable[str]) -> None:
        """Re-read the float copies (size, stop bounds) of ``symbols``' positions.

        One numpy assignment per array for all of them (a rebalance touches ~20). A size
        converted before (the same Decimal: a stop update keeps it) is not converted again.
        """
        columns, positions = self.arrays.columns, self.ledger.positions
        seen = self._seen
        cols: list[int] = []
        sizes: list[float] = []
        downs: list[float] = []
        ups: list[float] = []
        nan = np.nan
        for symbol in symbols:
            col = columns[symbol]
            cols.append(col)
            p = positions.get(symbol)
            if p is None:
                sizes.append(0.0)
                downs.append(nan)
                ups.append(nan)
                continue
            known = seen[col]
            value = p.size
            size = known[1] if value is known[0] else float(value)
            seen[col] = (value, size)
            sizes.append(size)
            if p.stop_loss is None and p.take_profit is None:
                downs.append(nan)
                ups.append(nan)
                continue
            sl = nan if p.stop_loss is None else float(p.stop_loss)
            tp = nan if p.take_profit is None else float(p.take_profit)
            down, up = (sl, tp) if size > 0 else (tp, sl)
            downs.append(down)
            ups.append(up)
            self.armed = True
        index = np.array(cols, dtype=np.intp)
        self.size[index] = sizes
        weights = np.array(self.weights)  # a copy (of the book's tuple, after it)
        weights[index] = self.size[index] * self.cs[index]
        self.weights = weights
        limits, n = self.limits, len(self.symbols)
        for col, down, up in zip(cols, downs, ups, strict=True):
            limits[col], limits[n + col] = down, -up
        self.dirty = True

    def _refresh(self) -> None:
        """Re-read the cash after bookings (lazily: once per stretch of bars).

        PV is the cash plus the positions marked (the ledger's equity): one float of an
        exact amount, no entry price per position.
        """
        book = self.book
        self.cash = float(self.ledger.cash) if book is None else book.cash_f
        weights = self.weights
        # ndarray.any(): ~5x count_nonzero's time; any() of a tuple of floats: less still
        self.flat = not (any(weights) if type(weights) is tuple else np.count_nonzero(weights))
        self.dirty = False

    def _state_changed(self, row: int) -> None:
        """Record the sizes from ``row`` on: a new state, or in place of one no day ends in.

        The results read the sizes at each day's end only (the positions frame): a
        state that no day ends in is replaced, so a year keeps ~365 states, not one per
        rebalance.
        """
        ends = self.day_ends
        if ends and ends[-1] < row:  # a day ended in the last state: it stays
            while ends and ends[-1] < row:
                ends.pop()
            self.state_rows.append(row)
            self.state_sizes.append(self.weights)  # never changed in place
        else:
            self.state_rows[-1] = row
            self.state_sizes[-1] = self.weights

    def _write(self, start: int, stop: int) -> None:
        """Record PV at the close of rows start..stop (inclusive) with the current book.

        A segment (rows, weights, cash) is kept; :meth:`_write_segments` evaluates
        :data:`SEGMENTS` of them at once: one numpy pass over ~10^3 rows instead of a
        few small calls a stretch.
        """
        if stop < start:
            return
        if self.dirty:
            self._refresh()
        self.segments.append((start, stop, self.weights, self.cash))
        if len(self.segments) >= SEGMENTS:
            self._write_segments()

    def _write_segments(self) -> None:
        """Write the PV of the segments recorded: Σ close × weight per row, plus the cash."""
        segments = self.segments
        if not segments:
            return
        self.segments = []
        first, last = segments[0][0], segments[-1][1]
        lengths = [stop - start + 1 for start, stop, _, _ in segments]
        assert sum(lengths) == last - first + 1, "segments follow each other"
        weights = np.repeat(np.array([w for _, _, w, _ in segments]), lengths, axis=0)
        cash = np.repeat(np.fromiter((c for _, _, _, c in segments), np.float64), lengths)
        a = self.cfg.first_row
        out = self.equity[first - a : last - a + 1]
        np.einsum("ij,ij->i", self.marks[first : last + 1], weights, out=out)
        out += cash

    # -- between rebalances -------------------------------------------------------------

    def _stretch_extremes(self) -> np.ndarray:
        """Return each stretch's [min low, −max high] per column, (stretches × 2 columns).

        A stretch (the bars between two rebalances) touches no stop where every value
        exceeds ``limits``: one comparison instead of one per bar and bound.
        """
        a, b = self.cfg.first_row, self.cfg.last_row
        starts = np.asarray(self.starts, dtype=np.int64) - a
        n = len(self.symbols)
        out = np.full((starts.size, 2 * n), -np.inf)  # -inf: look at every bar
        if not starts.size or starts[0] < 0 or starts[-1] > b - a or (np.diff(starts) <= 0).any():
            return out
        high, low = self._wicks()
        out[:, :n] = _per_stretch(np.fmin, low[a : b + 1], starts)  # NaN: no bar
        out[:, n:] = _per_stretch(np.fmax, high[a : b + 1], starts)
        np.negative(out[:, n:], out=out[:, n:])
        return out

    def _clear(self, start: int) -> bool:
        """Tell whether the stretch being advanced starts at ``start`` and touches no stop.

        One look at its extremes (:meth:`_stretch_extremes`): ~40 values on lists, less
        than a numpy call's own cost.
        """
        k, starts = self.stretch, self.starts
        if k >= len(starts) or start != starts[k]:  # not a whole stretch
            return False
        rows, i = self.extreme_rows, k - self.extreme_from
        if not 0 <= i < len(rows):
            if self.extremes is None:
                self.extremes = self._stretch_extremes()
            self.extreme_rows = rows = self.extremes[k : k + EXTREME_ROWS].tolist()
            self.extreme_from, i = k, 0
        return clear_of(rows[i], self.limits)

    def _touched(self, start: int, stop: int) -> np.ndarray | None:
        """Return which bars of rows start..stop touch a stop (rows × columns), None if none."""
        if self._clear(start):
            return None
        high, low = self._wicks()
        n = len(self.symbols)
        limits = np.array(self.limits)
        touched = (low[start : stop + 1] <= limits[:n]) | (high[start : stop + 1] >= -limits[n:])
        return touched if np.count_nonzero(touched) else None

    def _events(self, start: int, stop: int) -> list[tuple[int, int, int, float]]:
        events: list[tuple[int, int, int, float]] = []
        touched = self._touched(start, stop) if self.armed else None
        if touched is not None:
            cols = np.flatnonzero(touched.any(axis=0))
            for col, hit in zip(
                cols.tolist(), touched[:, cols].argmax(axis=0).tolist(), strict=True
            ):
                events.append((start + hit, 0, col, 0.0))
        rows = self.f_rows
        i = self.f_next
        while i < rows.size and rows[i] <= stop:
            if rows[i] >= start:
                events.append((int(rows[i]), 1, int(self.f_cols[i]), float(self.f_rates[i])))
            i += 1
        self.f_next = i
        events.sort()
        return events

    def _stop(self, row: int, col: int, stop: int) -> int | None:
        """Book a triggered stop at ``row``; return a later row to re-check, if any."""
        book = self.book
        high, low = self._wicks()
        if book is not None:
            bar = (self.open[row, col], high[row, col], low[row, col])
            if book.on_grid(bar):
                return self._book_stop(book, row, col, bar, stop)
            self._leave_book(self._bar_time(row))  # off the book's grid: the ledger goes on
        symbol = self.symbols[col]
        position = self.ledger.positions.get(symbol)
        if position is None:
            return None
        hit = stop_trigger(
            position.size,
            position.stop_loss,
            position.take_profit,
            _dec(self.open[row, col]),
            _dec(high[row, col]),
            _dec(low[row, col]),
        )
        if hit is None:  # float and Decimal disagreed at the boundary: look further on
            return row + 1 if row < stop else None
        reason, price = hit
        fill = self.fill_model.stop_fill(
            position, self.markets[symbol], reason, Decimal(price), self._bar_time(row)
        )
        self.fills.add(self.ledger.apply(fill), int(self.arrays.times[row]), col)
        self._sync(symbol)
        self._state_changed(row)
        return None

    def _book_stop(
        self, book: SpotBook, row: int, col: int, bar: tuple[float, float, float], stop: int
    ) -> int | None:
        """Book a stop the integer book finds triggered at ``row`` (see :meth:`_stop`)."""
        hit = book.stop(col, bar)
        if hit is None:
            return row + 1 if row < stop else None
        reason, sell, amount, price, fee, realized = hit
        self.pending.flush()  # the log's rows stay in time order
        self.fills.add_raw(
            int(self.arrays.times[row]), col, Side.SELL if sell else Side.BUY, amount, price,
            fee, realized, REASON_CODES[reason], NO_CYCLE, 0,
        )  # fmt: skip
        self._book_floats(book)
        self._state_changed(row)
        return None

    def _book_floats(self, book: SpotBook) -> None:
        """Copy the book's sizes (× contract size) and stops to the engine's arrays.

        ``size`` itself is the ledger's (see :meth:`_sync_many`): on the book, ``weights``
        tells what is held.
        """
        if self.unit_cs:
            self.weights = tuple(book.size_f)
        else:
            self.weights = tuple(map(operator.mul, book.size_f, self.cs_list))
        self._book_bounds(book)
        self.dirty = True

    def _book_bounds(self, book: SpotBook) -> None:
        """Note whether the book ever set a stop (its bounds are ``limits`` itself)."""
        if book.armed:
            self.armed = True

    def _fund(self, row: int, col: int, rate: float) -> None:
        """Settle a funding rate on ``col``'s position at the close of ``row``."""
        close = self.close[row, col]
        book = self.book
        if isinstance(book, FuturesBook) and book.on_grid((close,)):
            book.fund(col, rate, close)
        else:
            if book is not None:  # a close off the book's grid: the ledger goes on
                self._leave_book(self._bar_time(row))
            self.ledger.apply_funding(
                self.symbols[col], _dec(rate), _dec(close), self._bar_time(row)
            )
        self.dirty = True

    def _advance(self, start: int, stop: int) -> None:
        """Carry the book through rows start..stop: stops, funding, and PV per bar."""
        if stop < start:
            return
        if self.dirty:
            self._refresh()
        if (self.f_next >= self.f_rows.size or self.f_rows[self.f_next] > stop) and (
            not self.armed or self.flat or self._clear(start)
        ):  # no funding due, and no stop to check or none touched: only PV
            self._write(start, stop)
            return
        pending = self._events(start, stop)
        cursor = start
        while pending:
            row, kind, col, rate = pending.pop(0)
            self._write(cursor, row - 1)
            cursor = max(cursor, row)
            if kind == 0:
                again = self._stop(row, col, stop)
                if again is not None:
                    high, low = self._wicks()
                    up = -self.limits[len(self.symbols) + col]
                    later = (low[again : stop + 1, col] <= self.limits[col]) | (
                        high[again : stop + 1, col] >= up
                    )
                    if later.any():
                        pending.append((again + int(later.argmax()), 0, col, 0.0))
                        pending.sort()
            elif self.weights[col] != 0:  # held (contract sizes are > 0)
                self._fund(row, col, rate)
        self._write(cursor, stop)

    # -- rebalancing --------------------------------------------------------------------

    def _prices(self, row: int) -> dict[str, float]:
        raw = self.arrays.fields["close"][row]
        if self.holes and np.isnan(raw).any():
            return {s: v for s, v in zip(self.symbols, raw.tolist(), strict=True) if v == v}
        return dict(zip(self.symbols, raw.tolist(), strict=True))

    def _marks(
        self, row: int, symbols: set[str], known: dict[float, Decimal] | None = None
    ) -> dict[str, Decimal]:
        """Return Decimal marks (the last close, carried over holes) of ``symbols``.

        ``known`` collects each float's Decimal, for the fills to reuse (nonzero only:
        -0.0 == 0.0 as keys).
        """
        cols = self.arrays.columns
        closes = self.close[row].tolist()
        out = {}
        for s in symbols:
            v = closes[cols[s]]
            if v == v:
                out[s] = d = Decimal(repr(v))
                if known is not None and v:
                    known[v] = d
        return out

    def _rebalance(self, cycle: int, row: int, bar: pd.Timestamp) -> None:
        """Call the strategy at the close of ``row`` (``bar``, UTC) and trade what it asks.

        The Decimal ledger's rebalance; the integer book's goes through :meth:`_call`.
        """
        ctx = self.context
        ctx.set_now(bar)
        held = set(self.ledger.positions)
        ctx.set_portfolio(lambda: self.ledger.portfolio(self._marks(row, held)))
        prices = self._prices(row)
        try:
            output = call_strategy(self.strategy, ctx, self.cfg.config, bar=bar)
            targets = validate_output(
                output,
                self.markets,
                prices=prices,
                max_gross_weight=self.cfg.max_gross_weight,
                bar=bar,
            )
        except StrategyError as exc:
            if self.cfg.on_error == "raise":
                raise
            self._skipped(bar, exc)
            self._observe(CycleRecord(cycle, bar, None, None, str(exc), prices, ctx.state))
            return
        if targets is None or (not targets and not held):
            self._observe(CycleRecord(cycle, bar, targets, None, None, prices, ctx.state))
            return
        self._rebalance_ledger(targets, output, held, cycle, row, bar, prices)

    def _skipped(self, bar: pd.Timestamp, exc: StrategyError) -> None:
        """Log and record a rebalance skipped for a strategy error (``on_error='skip'``)."""
        log.warning("skipping the rebalance at %s: %s", bar, exc)
        self.errors.append((bar, str(exc)))

    def _call(self, cycle: int, row: int, bar: pd.Timestamp, closes: list[float]) -> None:
        """Call the strategy at the close of ``row`` and queue its output for the book.

        ``closes``: the closes of ``row`` (read a batch of rows at a time by :meth:`run`).

        The output is validated now, as :func:`validate_output` does (a plain
        ``{symbol: float}`` or float specs that surely pass are read by the book without a
        Decimal, anything else by it), so an invalid output raises at its bar; the book
        plans, fills and books it in :meth:`_drain`. A strategy that reads
        ``context.portfolio`` has the queue booked first (:meth:`_portfolio_now`).
        """
        book = self.book
        assert book is not None
        ctx, cfg = self.context, self.cfg
        ctx.set_now(bar)
        self.calling = (cycle, row)
        ctx.set_portfolio(self._portfolio_now)
        try:
            output = call_strategy(self.strategy, ctx, cfg.config, bar=bar)
            goals = book.parse(output, cfg.max_gross_weight, closes)
            targets = None
            if goals is None and output is not None:  # None: no opinion, nothing to check
                targets = validate_output(
                    output,
                    self.markets,
                    prices=self._prices(row),
                    max_gross_weight=cfg.max_gross_weight,
                    bar=bar,
                )
                if targets is not None:  # now: the output may change later
                    goals = book.goals(targets, output)
        except StrategyError as exc:
            if cfg.on_error == "raise":
                raise
            self._skipped(bar, exc)
            self.queue.append(Called(cycle, row, bar, None, None, None))
            return
        self.queue.append(Called(cycle, row, bar, goals, targets, closes))

    def _portfolio_now(self) -> Portfolio:
        """Return the account at the rebalance being called: the queue booked first."""
        cycle, row = self.calling
        self._drain()
        self.stretch = cycle
        self._advance(self.cursor, row)
        self.cursor = row + 1
        book = self.book
        if book is not None:
            return book.portfolio(self._marks(row, book.held()))
        return self.ledger.portfolio(self._marks(row, set(self.ledger.positions)))

    def _drain(self) -> None:
        """Book the queued rebalances in order, each after the bars before it."""
        queue = self.queue
        if not queue:
            return
        self.queue = []
        # the opens the book fills at, read for the whole queue at once
        opens: Iterable[list[float] | None] = itertools.repeat(None)
        if self.book is not None:
            opens = self.open[[called.row + 1 for called in queue]].tolist()
        for called, fill_opens in zip(queue, opens, strict=False):  # opens: maybe repeat()
            self.stretch = called.cycle
            self._advance(self.cursor, called.row)
            self.cursor = called.row + 1
            if called.closes is not None:  # else skipped for a strategy error
                self._rebalance_book(called, fill_opens)

    def _rebalance_book(self, called: Called, opens: list[float] | None) -> None:
        """Plan, fill and book one called rebalance on the integer book, or on the ledger.

        ``opens``: the opens of the row after the rebalance's (None once off the book).

        The account goes to the Decimal ledger for good when the book cannot keep it
        (see :meth:`SpotBook.rebalance`), or has gone there already; the goals the book
        read then give the ledger its targets (:meth:`SpotBook.targets_of`).
        """
        cfg, book = self.cfg, self.book
        cycle, row, bar, goals, targets, closes = called
        assert closes is not None
        if goals is None and targets is None:  # no opinion
            return
        if book is not None:
            if targets is not None and not targets and not book.held():
                return
            if goals is not None:
                assert opens is not None  # read by _drain while the book keeps the account
                done = book.rebalance(goals, closes, opens, cfg.threshold, self.pending)
                if done is not None:
                    self._booked(done, book, row + 1, bar, cycle)
                    return
            self._leave_book(bar)  # out of the book's scope: the Decimal ledger from here on
        weights: Mapping[str, Any]
        if targets is None:
            assert goals is not None
            assert self.former is not None
            targets, weights = self.former.targets_of(goals)
        else:
            weights = {symbol: target.weight for symbol, target in targets.items()}
        held = set(self.ledger.positions)
        if not targets and not held:
            return
        self._rebalance_ledger(targets, weights, held, cycle, row, bar, self._prices(row))

    def _rebalance_ledger(
        self,
        targets: dict[str, TargetWeight],
        output: Any,
        held: set[str],
        cycle: int,
        row: int,
        bar: pd.Timestamp,
        prices: dict[str, float],
    ) -> None:
        """Plan ``targets`` against the Decimal ledger, fill and book them."""
        ctx = self.context
        symbols = held | set(targets)
        known: dict[float, Decimal] = {}
        marks = self._marks(row, symbols, known)
        cfg = self.cfg
        knobs = {"leverage": cfg.leverage, "threshold": cfg.threshold}
        orders: Sequence[Ordered]
        if self.fast and cfg.on_cycle is None:  # client ids derived when the frame is built
            # plan_legs' decisions, its threshold test in float64 first (exact fallback)
            names = self.symbols
            legs = plan_book(
                targets,
                self.ledger,
                self.markets,
                marks,
                dict(zip(names, self.size.tolist(), strict=True)),
                dict(zip(names, self.close[row].tolist(), strict=True)),
                output,
                **knobs,
            )
            orders, stops, dropped = legs.legs, legs.stops, legs.dropped
        else:  # another fill model (or an observer) gets the orders gateways get
            account = self.ledger.portfolio()  # the planner marks at `marks` itself
            result = plan(
                targets,
                account,
                self.markets,
                marks,
                session_id=cfg.session_id,
                cycle=cycle,
                **knobs,
            )
            orders, dropped = result.orders, result.dropped
            stops = tuple((u.symbol, u.take_profit, u.stop_loss) for u in result.stop_updates)
            self._observe(CycleRecord(cycle, bar, targets, result, None, prices, ctx.state))
        self.dropped.extend((bar, leg) for leg in dropped)
        fill_row = row + 1
        if orders and self._fill(orders, fill_row, known, bar, cycle):
            self._state_changed(fill_row)
        if stops:
            for symbol, take_profit, stop_loss in stops:
                self.ledger.set_stops(symbol, take_profit, stop_loss)
            self._sync_many(dict.fromkeys(symbol for symbol, _, _ in stops))

    def _booked(
        self, done: Rebalanced, book: SpotBook, fill_row: int, bar: pd.Timestamp, cycle: int
    ) -> None:
        """Record what the integer book did in one rebalance."""
        if done.dropped:
            self.dropped.extend((bar, leg) for leg in done.dropped)
        if not done.fills:
            self._book_bounds(book)  # stops may have moved without a trade
            return
        time_ns = self.arrays.start_ns + fill_row * self.arrays.step
        self.pending.stamp(time_ns, cycle, done.fills)
        self._book_floats(book)
        self._state_changed(fill_row)

    def _observe(self, record: CycleRecord) -> None:
        if self.cfg.on_cycle is not None:
            self.cfg.on_cycle(record)

    def _fill(
        self,
        orders: Sequence[Ordered],
        fill_row: int,
        known: Mapping[float, Decimal],
        bar: pd.Timestamp,
        cycle: int,
    ) -> bool:
        """Fill ``orders`` at the open of ``fill_row`` and book them; tell whether any filled.

        ``known``: Decimals of the planning closes; an open equal to one (the usual
        case: a bar opens at the previous close) reuses it.
        """
        columns = self.arrays.columns
        opens = self.open[fill_row].tolist()
        prices: dict[str, Decimal] = {}
        for order in orders:
            value = opens[columns[order.symbol]]
            price = known.get(value)
            prices[order.symbol] = Decimal(repr(value)) if price is None else price
        if self.fast:
            booked, dropped = execute_orders(
                orders, self.ledger, self.fill_model, self.markets, prices
            )
        else:
            booked, dropped = execute_through_fills(
                cast(Sequence[OrderRequest], orders),  # plan()'s orders on this path
                self.ledger,
                self.fill_model,
                self.markets,
                prices,
                self._bar_time(fill_row),
            )
        self.dropped.extend((bar, leg) for leg in dropped)
        if not booked:
            return False
        cols = [columns[b.order.symbol] for b in booked]
        # a fill at the reference price (no slippage): its float is the bar's open
        floats = [
            opens[col] if b.price is prices[b.order.symbol] else float(b.price)
            for b, col in zip(booked, cols, strict=True)
        ]
        time_ns = self.arrays.start_ns + fill_row * self.arrays.step  # arrays.times[fill_row]
        self.fills.add_booked(time_ns, cycle, booked, cols, floats)
        self._sync_many(dict.fromkeys(b.order.symbol for b in booked))
        return True

    def _cycle(self, cycle: int, row: int, bar: pd.Timestamp, closes: list[float] | None) -> None:
        """Rebalance at ``row``: on the book, call now and book in batches; else at once.

        ``closes``: the closes of ``row`` where the batch began on the book, else None (the
        account never returns to the book once it left).
        """
        if self.book is not None:
            assert closes is not None
            self._call(cycle, row, bar, closes)
            return
        self._drain()
        self.stretch = cycle
        self._advance(self.cursor, row)
        self.cursor = row + 1
        self._rebalance(cycle, row, bar)

    def run(
        self, rebalance_rows: np.ndarray, progress: Callable[[int], None] | None = None
    ) -> RunOutput:
        """Run the loop over ``rebalance_rows`` and return the raw results."""
        if rebalance_rows.size:
            self.book = self._int_book(rebalance_rows)
            if self.book is not None:
                self.limits = self.book.limits  # shared: the book keeps them as it books
            self.booked_from = None if self.book is None else int(rebalance_rows[0])
        self.cursor = self.cfg.first_row
        self.starts = [self.cursor, *(rebalance_rows + 1).tolist()]
        close_times = self.arrays.times[rebalance_rows] + self.arrays.step
        bars = pd.DatetimeIndex(close_times.view("datetime64[ns]")).tz_localize("UTC")
        rows = rebalance_rows.tolist()
        with frozen_heap():
            for first in range(0, len(rows), BATCH):
                # the bars' close times boxed by pandas a batch at a time, not one a call
                stop = first + BATCH
                # and the closes the book plans at (one array read a batch, not a call)
                closes: Iterable[list[float] | None] = itertools.repeat(None)
                if self.book is not None:
                    closes = self.close[rebalance_rows[first:stop]].tolist()
                batch = zip(itertools.count(first), rows[first:stop], bars[first:stop], closes)
                for cycle, row, bar, prices in batch:
                    self._cycle(cycle, row, bar, prices)
                    if progress is not None and cycle % 1000 == 999:
                        progress(1000)
                self._drain()
        self.stretch = len(rebalance_rows)
        self._advance(self.cursor, self.cfg.last_row)
        self._write_segments()
        if self.book is not None:
            self.ledger = self.book.ledger(self.ledger)
        self.pending.flush()
        if progress is not None:
            progress(len(rebalance_rows) % 1000)
        return RunOutput(
            equity=self.equity,
            fills=self.fills,
            dropped=self.dropped,
            errors=self.errors,
            state_rows=self.state_rows,
            state_sizes=self.state_sizes,
            rebalances=len(rebalance_rows),
            ledger=self.ledger,
        )


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the collector's passes during a run few and short (old objects frozen).

    A full collection traverses every tracked object: in a notebook kernel, pandas and
    everything the user made (10^5–10^6 objects, tens of ms a pass). What a run creates
    triggers a few; ``gc.freeze`` moves the objects alive now to a generation the
    collector skips until ``gc.unfreeze``. And a young collection runs each time 700 more
    containers were made than freed: a strategy's call (pandas) crosses that in bursts
    it frees again, so most passes find nothing to free, and each one walks the
    rebalances queued for the book. During the run that threshold is
    :data:`YOUNG_THRESHOLD` (cycles are still collected, ~14x more at a time), then
    restored. Left as it is where the collector is off or something else froze objects.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    if thresholds[0]:  # 0: automatic collection is off, and stays off
        gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def day_ends(close_times: np.ndarray) -> np.ndarray:
    """Return the positions of each UTC day's last bar in ``close_times`` (ns, increasing).

    A bar closing at exactly midnight ends the day before.
    """
    day = (close_times - 1) // (86_400 * NS)
    return np.flatnonzero(np.r_[day[1:] != day[:-1], True])


def rebalance_rows(arrays: BarArrays, step_ns: int, first_row: int, last_row: int) -> np.ndarray:
    """Return the rows whose close time falls on a ``step_ns`` boundary (epoch-aligned).

    The last row is excluded: its orders would have no next bar to fill at.
    """
    rows = np.arange(first_row, last_row, dtype=np.int64)
    closes = arrays.times[first_row:last_row] + arrays.step
    return np.asarray(rows[closes % step_ns == 0])
