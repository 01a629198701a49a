"""An exact integer spot book: a rebalance planned, filled and booked without a Decimal.

The backtester's account is a :class:`aifap.core.ledger.Ledger` (Decimal). For the
common run, spot markets under the core :class:`~aifap.core.fills.NotionalFee` with
no slippage on bars whose prices lie on a decimal grid (exchange bars do: prices are
whole ticks), it keeps the account here instead, as Python integers in fixed units:

- sizes in ``10^-a`` base, where ``a`` = the finest amount step's decimals + the fee
  rate's (a buy's fee comes out of the base received: ``rate × amount``);
- prices in ``10^-p`` quote, ``p`` the finest grid the bars' opens and closes lie on,
  and, where that stays within 15 digits, every market's tick plus the fee rate's
  decimals (a stop sells the whole holding, off the step after base fees, and its fee
  must be whole);
- cash and fees in ``10^-(a + p)`` quote; cost basis and realized PnL 20 decimals finer.

SL/TP are kept per position as whole ticks (rounded as the planner rounds them), moved
without a trade where only they change, and triggered between rebalances as
:func:`aifap.core.fills.stop_trigger` triggers them (the engine checks the trigger bar
lies on the grid); :class:`aifap.backtest.futuresbook.FuturesBook` shares this
machinery.

Fills reach the fill log through a :class:`~aifap.backtest.log.FillBuffer`; the units'
helpers (price grids, exact conversions, the ledger's exponents for texts) live in
:mod:`aifap.backtest.units`.

Every amount, price, fee and cash balance is then exact, as in the Decimal ledger, and
the decisions are those of :func:`aifap.core.planner.plan_legs` +
:func:`aifap.backtest.execute.execute_orders` (same legs, same order, same fills, same
fees, same dropped legs): the planner's tests (threshold, target amount rounded toward
zero to the step) are taken in float64 where a proven error band decides them, as in
:mod:`aifap.backtest.fastplan`, and with exact fractions where it does not.

One definition differs, below the Decimal ledger's own rounding: the Decimal ledger
averages a position's entry price to 28 significant digits and realizes
``amount × (price − entry)`` from it; this book keeps the position's exact cost basis
and releases the sold share of it rounded (half to even) to ``10^-(a+p+20)`` quote, far
below the ledger's rounding. Equity is ``cash + Σ size × mark``, exact.
``tests/unit/backtest/test_spot_book.py`` checks both paths against each other on random
markets, weights and prices.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from math import remainder
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from aifap.backtest.log import LEG_CODES, FillBuffer
from aifap.backtest.specs import NO_STOPS, TINY, SpecKeys, Stops, read_specs
from aifap.backtest.units import MAX_DIGITS, Exponents, as_decimal, decimals, grid, units_of
from aifap.core.fills import stop_trigger, unaffordable
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import FillReason
from aifap.core.planner import CLOSE, OPEN, REDUCE, DroppedLeg
from aifap.core.portfolio import Portfolio, Position, new_position
from aifap.core.weights import (
    TargetWeight,
    floats_within_gross,
    gross_bound,
)

ONE = Decimal(1)
ZERO = Decimal(0)
NEGATIVE_ZERO = Decimal("-0")
FLOATS = {float}
# numbers parse_targets reads as Decimal(repr(float(x))), as a float is read
NUMBERS = {float, int, np.float64, np.float32, np.int64, np.int32}
# output key layouts kept (see SpotBook._layout_of): a few a strategy returns in turn; a
# strategy that picks a new subset at most calls (momentum: 87 %) misses anyway, and a
# big table of them costs more than the misses (cache misses, 4096 freed at a time)
LAYOUTS = 64
FINE = 20  # extra decimals of the cost basis and realized PnL below the cash unit


def clear_of(extremes: list[float], limits: list[float]) -> bool:
    """Tell whether a stretch of bars touches no stop: each extreme above its bound.

    ``extremes``: the stretch's [min low per column..., −max high per column...];
    ``limits``: the trigger bounds, laid out alike (``SpotBook.limits``). NaN on either
    side (no stop, no bar) touches nothing. A loop on C doubles where compiled.
    """
    for i in range(len(limits)):
        low = extremes[i]
        bound = limits[i]
        if low <= bound:
            return False
    return True


class Goals(NamedTuple):
    """A strategy's targets as the book reads them: a float weight per column.

    ``exact`` holds the Decimal weights that are not ``repr`` of their float (a weight
    given as a Decimal, or in a spec), for the exact path; ``stops`` the targets' SL/TP,
    rounded to the tick, in price units.
    """

    weights: list[float]
    targeted: list[bool]
    exact: Mapping[int, Decimal]
    stops: Mapping[int, Stops] = MappingProxyType({})


# one order the book decided: (column, amount in size units, leg name)
Order = tuple[int, int, str]


class Layout(NamedTuple):
    """Where an output's keys go (kept while a strategy returns the same keys in turn)."""

    keys: tuple[Any, ...]
    cols: list[int]
    targeted: list[bool]
    whole: bool  # every column, in column order


class Rebalanced(NamedTuple):
    """How many fills one rebalance wrote into the fill log, and the legs it dropped."""

    fills: int
    dropped: list[DroppedLeg]


class SpotBook:
    """One spot account as integers (see the module docstring); built by :meth:`build`.

    Its attributes are slots, as the engine's and the futures book's are: CPython 3.11
    keeps an object's attributes beyond 30 in a dict, and then neither specializes
    ``self.x`` nor ``self.method()`` (each a dict and a type lookup, and more where the
    type-attribute cache collides). With slots both are one indexed load. Compiled, the
    class is an extension type (``spotbook.pxd``): the same attributes as C struct
    fields, which a new one must join too.
    """

    __slots__ = (
        "_gross", "_layouts", "_spec_keys", "a", "armed", "basis", "capital", "cash",
        "cash_f", "cash_unit", "columns", "cs", "fees", "fine", "held_steps",
        "last_price", "limits", "markets", "min_amounts", "min_notionals",
        "notional_scale", "order", "p", "price_unit", "rate", "rate_unit", "realized",
        "rel", "size", "size_f", "size_unit", "steps", "steps_f", "stoppable",
        "stops", "symbols", "texts", "ticks", "ticks_f"
    )  # fmt: skip

    shorts = False  # whether a weight may be negative (the futures book's)

    def __init__(
        self,
        symbols: Sequence[str],
        markets: Mapping[str, MarketSpec],
        capital: int,
        rate: int,
        a: int,
        p: int,
        r: int,
        steps: list[int],
        min_amounts: list[int],
        min_notionals: list[int],
        texts: Exponents,
        ticks: list[int] | None = None,
    ) -> None:
        """Hold an account of ``capital`` (cash units) and no position; see :meth:`build`.

        ``ticks``: each market's tick in price units, or None when the price unit does
        not hold them (a target with stops then hands the account to the ledger).
        """
        self.texts = texts
        self.symbols = list(symbols)
        self.columns = {s: i for i, s in enumerate(self.symbols)}
        self.markets = markets
        self.order = sorted(range(len(self.symbols)), key=self.symbols.__getitem__)
        self.rate, self.a, self.p = rate, a, p
        self.size_unit: int = 10**a
        self.price_unit: int = 10**p
        self.cash_unit: int = 10 ** (a + p)
        self.fine: int = 10**FINE  # basis units per cash unit
        self.rate_unit: int = 10**r
        self.steps = steps
        self.steps_f = [step / self.size_unit for step in steps]
        self.min_amounts = min_amounts
        self.min_notionals = min_notionals
        self.cs = [1] * len(self.symbols)  # contract sizes in their units (futures: see there)
        self.notional_scale: int = 1  # amount × cs × price units to cash units (futures: 10^r)
        self.capital = capital
        self.cash = capital
        self.cash_f = capital / self.cash_unit
        # the float tests' relative band: 9 × their error bound, (n + 11) × 2^-53
        self.rel = (len(self.symbols) + 11) * 1e-15
        self.fees = 0
        self.realized = 0
        n = len(self.symbols)
        self.size = [0] * n
        self.basis = [0] * n  # cost of the holding (cash units × 10^FINE)
        self.last_price = [0] * n  # the last fill's price (units): a position's mark
        self.size_f = [0.0] * n
        self.held_steps = [0.0] * n  # size_f / steps_f
        self._layouts: dict[tuple[Any, ...], Layout] = {}  # by the output's keys, LAYOUTS at most
        self._gross: tuple[Decimal, float] | None = None
        self.stoppable = ticks is not None  # whether the price unit holds every tick
        self.ticks: list[int] = ticks if ticks is not None else [0] * n
        self.ticks_f = [float(markets[s].price_step) for s in self.symbols]
        self.stops: list[Stops] = [NO_STOPS] * n
        # trigger bounds [down..., −up...]: a bar low <= down or high >= up touches a stop:
        # (SL, TP) for a long, (TP, SL) for a short, NaN where none (the engine reads this list)
        self.limits = [math.nan] * (2 * n)
        self.armed = False  # whether a position ever had a stop
        # a spec's keys -> its (take-profit key, stop-loss key); None: parse_targets decides
        self._spec_keys: dict[tuple[str, ...], SpecKeys] = {}

    @classmethod
    def build(
        cls,
        symbols: Sequence[str],
        markets: Mapping[str, MarketSpec],
        capital: Decimal,
        rate: Decimal,
        opens: np.ndarray,
        closes: np.ndarray,
    ) -> SpotBook | None:
        """Return the book of a run, or None when its markets or bars need the Decimal ledger.

        Needs: spot markets of contract size 1 and a fee rate, amount step, minimums and
        capital of at most 12 decimals; every open and close finite, > 0 and on a
        decimal grid (:func:`grid`) with at most 15 significant digits at the run's
        finest grid.
        """
        specs = [markets[s] for s in symbols]
        if any(m.market_type is not MarketType.SPOT or m.contract_size != ONE for m in specs):
            return None
        if any(m.amount_step <= ZERO for m in specs) or not symbols:
            return None
        if not (np.isfinite(opens).all() and np.isfinite(closes).all()):
            return None
        if (opens <= 0).any() or (closes <= 0).any():
            return None
        r = decimals(rate)
        a = max(max(decimals(m.amount_step), decimals(m.min_amount)) for m in specs) + r
        grids = []
        for col in range(len(symbols)):
            k = grid(opens[:, col])
            k = None if k is None else grid(closes[:, col], k)
            if k is None:
                return None
            grids.append(k)
        cash_decimals = max(decimals(capital), *(decimals(m.min_notional) for m in specs))
        p = max(*grids, cash_decimals - a)  # the cash unit 10^-(a+p) holds the capital too
        top = max(float(opens.max()), float(closes.max()))
        if top * 10.0**p >= 1e15:
            return None
        # stops need the ticks on the price grid, and r more decimals: a stop sells the
        # whole holding, off the step after base fees, and its fee rate × amount × price
        # must be whole in cash units
        ticks = [decimals(m.price_step) for m in specs]
        with_stops = max(p, *ticks) + r
        stoppable = top * 10.0**with_stops < 1e15 and with_stops <= MAX_DIGITS + r
        if stoppable:
            p = with_stops
        q = a + p
        if q > 40 or r > MAX_DIGITS:
            return None
        values = [units_of(capital, q), units_of(rate, r)]
        texts = Exponents(specs, rate, capital, grids)
        steps = [units_of(m.amount_step, a) for m in specs]
        minimums = [units_of(m.min_amount, a) for m in specs]
        notionals = [units_of(m.min_notional, q) for m in specs]
        if any(v is None for v in (*values, *steps, *minimums, *notionals)):
            return None
        tick_units = [units_of(m.price_step, p) for m in specs]
        stoppable = stoppable and all(t is not None and t > 0 for t in tick_units)
        return cls(
            symbols, markets, values[0], values[1], a, p, r,  # type: ignore[arg-type]
            steps, minimums, notionals, texts,  # type: ignore[arg-type]
            tick_units if stoppable else None,  # type: ignore[arg-type]
        )  # fmt: skip

    # -- views ------------------------------------------------------------------------

    def held(self) -> set[str]:
        """Return the symbols held (any size above 0, dust included)."""
        return {self.symbols[i] for i, s in enumerate(self.size) if s}

    def _positions(self, marks: Mapping[str, Decimal] | None) -> dict[str, Position]:
        out = {}
        for i, size in enumerate(self.size):
            if not size:
                continue
            symbol = self.symbols[i]
            held = as_decimal(size, self.a, self.texts.size[i])
            entry = as_decimal(self.basis[i], self.a + self.p + FINE) / held
            mark = marks.get(symbol) if marks else None
            if mark is None:
                mark = as_decimal(self.last_price[i], self.p)
            out[symbol] = new_position(symbol, held, entry, mark, ONE, ONE, None, None, ZERO)
        return out

    def portfolio(self, marks: Mapping[str, Decimal] | None = None) -> Portfolio:
        """Return the account as the Decimal ledger's :meth:`~Ledger.portfolio` would."""
        fine = self.fine
        balance = as_decimal(
            (self.capital - self.fees) * fine + self.realized, self.cash_digits + FINE
        )
        cash = as_decimal(self.cash, self.cash_digits, self.texts.cash)
        return Portfolio(balance=balance, positions=self._positions(marks), cash=cash)

    @property
    def cash_digits(self) -> int:
        """Return the decimals of the cash unit."""
        return self.a + self.p

    def ledger(self, ledger: Ledger) -> Ledger:
        """Write this book into ``ledger`` (opened with the same capital) and return it."""
        digits = self.cash_digits
        ledger.cash = as_decimal(self.cash, digits, self.texts.cash)
        ledger.fees = as_decimal(self.fees, digits)
        ledger.realized_pnl = as_decimal(self.realized, digits + FINE)
        ledger.positions = self._positions(None)
        return ledger

    def _rebind(self, cols: Iterable[int]) -> None:
        """Recompute the trigger bounds of ``cols`` (their stops or sizes changed)."""
        nan, unit = math.nan, self.price_unit
        limits, n = self.limits, len(self.symbols)
        for col in cols:
            size = self.size[col]
            tp, sl = self.stops[col]
            if not size or (tp is None and sl is None):
                limits[col] = limits[n + col] = nan
                continue
            self.armed = True
            tp_f = nan if tp is None else tp / unit
            sl_f = nan if sl is None else sl / unit
            limits[col], limits[n + col] = (sl_f, -tp_f) if size > 0 else (tp_f, -sl_f)

    # -- a rebalance --------------------------------------------------------------------

    def parse(
        self, output: Any, max_gross_weight: Decimal, closes: list[float] | None = None
    ) -> Goals | None:
        """Return the goals of an output of float weights and float specs that surely passes.

        What :func:`aifap.core.weights.parse_targets` accepts without a doubt: known
        symbols, finite float weights (>= 0 on spot), a gross weight float64 proves
        within the limit, without a Decimal per weight; specs ``{'weight': w,
        'presetStopSurplusPrice': tp, 'presetStopLossPrice': sl}`` (or the aliases) of
        floats are read here too: finite stops > 0 on the right side of ``closes``
        (float comparisons of such values are those of their reprs), each rounded to
        its tick in float64 where that is surely the planner's rounding, else exactly
        (:func:`aifap.backtest.specs.read_specs`). Anything else: None, and
        ``parse_targets`` decides.
        """
        layout = self._layout_of(output)
        if layout is None:
            return None
        if closes is None or type(next(iter(output.values()))) is not dict:
            return self._parse_plain(output, layout, max_gross_weight)
        if not self.stoppable:
            return None
        lowest = -sys.float_info.max if self.shorts else 0.0  # finite; >= 0 on spot (-0.0 too)
        read = read_specs(
            layout.cols, output.values(), closes, self.ticks_f, self.ticks, lowest,
            self._spec_keys, self._tick_units,
        )  # fmt: skip
        if read is None:
            return None
        weights, stops = read
        total = sum(map(abs, weights))
        if not self._within_gross(total, len(weights), max_gross_weight):
            return None
        return Goals(self._spread(layout, weights), layout.targeted, {}, stops)

    def _tick_units(self, col: int, price: float) -> int:
        """Return ``round_price(Decimal(repr(price)))`` of ``col``'s market in price units.

        The exact rounding, for a stop float64 cannot round surely (see
        :func:`aifap.backtest.specs.read_specs`).
        """
        market = self.markets[self.symbols[col]]
        return self._price_units(market.round_price(Decimal(repr(price))))

    def _price_units(self, price: Decimal) -> int:
        """Return a price on a market's tick (so on this book's grid) in price units."""
        units = units_of(price, self.p)
        assert units is not None  # p holds every tick
        return units

    def _parse_plain(
        self, output: dict[str, Any], layout: Layout, max_gross_weight: Decimal
    ) -> Goals | None:
        """Return the goals of a plain ``{symbol: number}`` output that surely passes."""
        values = list(output.values())
        kinds = set(map(type, values))
        if kinds != FLOATS:
            if not kinds <= NUMBERS:
                return None
            try:
                values = [float(value) for value in values]
            except OverflowError:  # an int beyond float64: parse_targets words the error
                return None
        if self.shorts:  # futures: any sign
            total = sum(map(abs, values))  # NaN or inf: not < 1e300 (floats_within_gross)
        else:
            total = sum(values)
            if not min(values) >= 0.0:
                return None
        if not self._within_gross(total, len(values), max_gross_weight):
            return None
        return Goals(self._spread(layout, values), layout.targeted, {})

    def _layout_of(self, output: Any) -> Layout | None:
        """Return where a non-empty ``{symbol: ...}`` dict's keys go; None for anything else.

        Kept per key tuple: a strategy that picks a changing subset returns a few of them
        in turn.
        """
        if type(output) is not dict or not output:
            return None
        keys = tuple(output)
        layouts = self._layouts
        layout = layouts.get(keys)
        if layout is None:  # most calls of a strategy that picks a subset: keep it cheap
            try:
                cols = list(map(self.columns.__getitem__, keys))
            except (KeyError, TypeError):
                return None
            n = len(self.symbols)
            targeted = [False] * n
            for col in cols:
                targeted[col] = True
            whole = len(cols) == n and cols == list(range(n))
            if len(layouts) >= LAYOUTS:
                layouts.clear()
            layout = layouts[keys] = Layout(keys, cols, targeted, whole)
        return layout

    def _within_gross(self, total: float, count: int, max_gross_weight: Decimal) -> bool:
        """Tell whether float weights whose |w| sum to ``total`` surely pass the gross limit."""
        if self._gross is None or self._gross[0] != max_gross_weight:
            self._gross = (max_gross_weight, gross_bound(max_gross_weight))
        return floats_within_gross(total, count, self._gross[1])

    def _spread(self, layout: Layout, values: list[float]) -> list[float]:
        """Return one value per column: ``values`` (in the output's key order) at their columns."""
        if layout.whole:
            return values
        goals = [0.0] * len(self.symbols)
        for col, value in zip(layout.cols, values, strict=True):
            goals[col] = value
        return goals

    def targets_of(self, goals: Goals) -> tuple[dict[str, TargetWeight], dict[str, Any]]:
        """Return the targets ``goals`` were read from, and each one's weight as given.

        For the Decimal ledger, where the account leaves the book with rebalances read
        but not booked: ``parse_targets``' targets (a float ``w`` weighs
        ``Decimal(repr(w))``) with their stops already on the tick (the planner's
        rounding leaves them there), and the weights as :func:`plan_book` reads them.
        """
        targets: dict[str, TargetWeight] = {}
        weights: dict[str, Any] = {}
        for col, symbol in enumerate(self.symbols):
            if not goals.targeted[col]:
                continue
            exact = goals.exact.get(col)
            given = goals.weights[col] if exact is None else exact
            weight = Decimal(repr(given)) if exact is None else exact
            tp, sl = goals.stops.get(col, NO_STOPS)
            targets[symbol] = TargetWeight(
                symbol,
                weight,
                None if tp is None else as_decimal(tp, self.p),
                None if sl is None else as_decimal(sl, self.p),
            )
            weights[symbol] = given
        return targets, weights

    def goals(self, targets: Mapping[str, TargetWeight], output: Any) -> Goals | None:
        """Return the goals of parsed ``targets``, their stops rounded to each market's tick.

        None when the book cannot keep them (a stop where the price unit holds no tick).
        """
        columns = self.columns
        n = len(self.symbols)
        goals = [0.0] * n
        targeted = [False] * n
        exact: dict[int, Decimal] = {}
        stops: dict[int, Stops] = {}
        for symbol, target in targets.items():
            col = columns.get(symbol)
            if col is None:
                return None
            goals[col] = self._weight(symbol, target, output, col, exact)
            targeted[col] = True
            tp, sl = target.take_profit, target.stop_loss
            if (tp is not None or sl is not None) and target.weight != ZERO:
                if not self.stoppable:
                    return None  # the price unit does not hold the ticks
                market = self.markets[symbol]
                stops[col] = (
                    None if tp is None else self._price_units(market.round_price(tp)),
                    None if sl is None else self._price_units(market.round_price(sl)),
                )
        return Goals(goals, targeted, exact, stops)

    @staticmethod
    def _weight(
        symbol: str, target: TargetWeight, output: Any, col: int, exact: dict[int, Decimal]
    ) -> float:
        """Return a parsed target's float weight; keep its Decimal in ``exact`` if not a float's.

        A float the strategy gave is the weight (the Decimal is its repr); a Decimal
        weight, or one given another way, keeps its exact value for the exact path.
        """
        weight = output.get(symbol) if isinstance(output, Mapping) else None
        if type(weight) is dict:
            weight = weight.get("weight")
        if type(weight) is not float:
            exact[col] = target.weight
            return float(target.weight)
        return weight

    def rebalance(
        self,
        goals: Goals,
        closes: list[float],
        opens: list[float],
        threshold: Decimal,
        log: FillBuffer,
    ) -> Rebalanced | None:
        """Plan at ``closes``, fill at ``opens``, book and log; None (no change) if worth nothing.

        The float64 tests (module docstring) read ``x``, the target amount minus the
        holding in amount steps: where ``x`` is farther than ``band`` from every whole
        number, ``trunc(x)`` is the planner's rounded amount; elsewhere fractions decide.
        """
        weights, targeted, stops = goals.weights, goals.targeted, goals.stops
        current_stops = self.stops
        moved: dict[int, Stops] = {}  # stop updates without a trade
        equity_f = self.cash_f + sum(map(operator.mul, self.size_f, closes))
        if not equity_f > 0.0:
            return None
        held_steps, steps_f, rel = self.held_steps, self.steps_f, self.rel
        thr = float(threshold)

        sells: list[Order] = []  # in symbol order
        buys: list[Order] = []
        dropped: list[DroppedLeg] = []
        size, steps = self.size, self.steps
        min_amounts, min_notionals, unit = self.min_amounts, self.min_notionals, self.price_unit
        equity: int | None = None  # exact, computed when a symbol needs it
        size_unit, proceeds, spend = self.size_unit, 0.0, 0.0
        for col in self.order:
            holding = size[col]
            weight = weights[col]
            if not targeted[col] or weight == 0.0:
                if holding:
                    sold = self._close(col, holding, sells, dropped)
                    proceeds += sold / size_unit * closes[col]
                continue
            per_step = closes[col] * steps_f[col]  # the quote value of one amount step
            wanted = weight * equity_f / per_step
            held = held_steps[col]
            x = wanted - held
            # x − its nearest integer (ties to even), as x − round(x) but without an int
            sure = abs(remainder(x, 1.0)) > (wanted + held) * rel + TINY
            if thr == 0.0:  # |goal − current| > 0 is x != 0: a sure x is not 0
                trade = sure
            else:
                current = held * per_step / equity_f
                gap = abs(weight - current)
                tol = (weight + current + thr) * rel + TINY
                if gap < thr - tol:
                    if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                        moved[col] = stops.get(col, NO_STOPS)  # moved without a trade
                    continue
                trade = sure and gap > thr + tol
            if trade:
                delta, negative = int(x), x < 0.0  # int(): toward zero, as ROUND_DOWN
            else:  # float64 cannot tell: exact fractions decide
                if equity is None:
                    equity = self._equity(closes)
                decided = self._exact(goals, col, equity, closes[col], threshold)
                if decided is None:
                    if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                        moved[col] = stops.get(col, NO_STOPS)
                    continue
                delta, negative = decided
            amount = abs(delta) * steps[col]
            leg = REDUCE if holding and delta <= 0 else OPEN  # the planner's: 0 reduces too
            notional = min_notionals[col]  # _too_little, inline: it runs per symbol
            if (
                not amount
                or amount < min_amounts[col]
                or (notional and amount * round(closes[col] * unit) < notional)
            ):
                dropped.append(self._too_small(col, delta, negative, leg, closes[col]))
                if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                    moved[col] = stops.get(col, NO_STOPS)
                continue
            # each side's quote value at the closes, summed in symbol order (_cap_at_marks)
            if delta < 0:
                sells.append((col, amount, leg))
                proceeds += amount / size_unit * closes[col]
            else:
                buys.append((col, amount, leg))
                spend += amount / size_unit * closes[col]
        if buys:
            buys = self._cap_at_marks(buys, sells, closes, dropped, proceeds, spend)
        done = self._fill(sells, buys, opens, dropped, log, stops)
        if moved:
            for col, new in moved.items():
                current_stops[col] = new
            self._rebind(moved)
        return done

    def _equity(self, closes: list[float]) -> int:
        """Return cash + Σ size × close, exact (cash units)."""
        unit = self.price_unit
        held = ((s, closes[i]) for i, s in enumerate(self.size) if s)
        return self.cash + sum(s * round(c * unit) for s, c in held)

    def _close(self, col: int, holding: int, sells: list[Order], dropped: list[DroppedLeg]) -> int:
        """Sell a whole holding, rounded down to the step; report the dust left; return the sale."""
        step = self.steps[col]
        sold = holding // step * step
        if not sold:
            return 0  # dust, reported when the close that left it was planned
        sells.append((col, sold, CLOSE))
        if sold != holding:
            market = self.markets[self.symbols[col]]
            dust = as_decimal(holding - sold, self.a, self.texts.size[col])
            reason = f"dust: {dust} below the amount step {market.amount_step} stays held"
            dropped.append(DroppedLeg(market.symbol, CLOSE, -dust, reason))
        return sold

    def _exact(
        self, goals: Goals, col: int, equity: int, close: float, threshold: Decimal
    ) -> tuple[int, bool] | None:
        """Decide one symbol with fractions: None (no trade) or (signed steps, delta < 0)."""
        weight = goals.exact.get(col)
        goal = Fraction(weight if weight is not None else Decimal(repr(goals.weights[col])))
        held = Fraction(self.size[col], self.size_unit)
        price = Fraction(round(close * self.price_unit), self.price_unit)
        value = Fraction(equity, self.cash_unit)
        current = held * price / value
        if abs(goal - current) <= Fraction(threshold):
            return None
        delta = (goal * value / price - held) / Fraction(self.steps[col], self.size_unit)
        return int(delta), delta < 0  # int(): toward zero, as ROUND_DOWN

    def _too_little(self, col: int, amount: int, close: float) -> bool:
        """Tell whether ``amount`` (size units) at ``close`` is 0 or under a minimum.

        The notional is ``amount × contract size × price`` in the units the minimum
        notional was converted to (the spot book's contract sizes are 1).
        """
        notional = self.min_notionals[col]
        return (
            not amount
            or amount < self.min_amounts[col]
            or bool(notional and amount * self.cs[col] * round(close * self.price_unit) < notional)
        )

    def _too_small(
        self, col: int, delta: int, negative: bool, leg: str, close: float
    ) -> DroppedLeg:
        """Return the dropped leg of a below-minimum amount, worded as the planner words it."""
        market = self.markets[self.symbols[col]]
        signed = Decimal(delta) if delta or not negative else NEGATIVE_ZERO
        amount = signed * market.amount_step
        reason = market.below_minimum(amount, Decimal(repr(close)))
        return DroppedLeg(market.symbol, leg, amount, reason or "below the market's minimum")

    def _cap_at_marks(
        self,
        buys: list[Order],
        sells: list[Order],
        closes: list[float],
        dropped: list[DroppedLeg],
        proceeds: float,
        spend: float,
    ) -> list[Order]:
        """Cap buys at the cash plus the sells' proceeds at the marks, in symbol order.

        ``proceeds`` and ``spend``: the sells' and the buys' quote values at the marks,
        summed in symbol order. In float64 where its error (``slack``) cannot change a
        decision: a buy that surely fits, or surely does not and shrinks to a whole
        number of steps that is surely right and above the minimums. Anything closer, or
        a buy dropped (its text prints the exact cash), goes to :meth:`_cap_exact`.
        """
        unit = self.size_unit
        cash = self.cash_f + proceeds
        slack = (cash + spend) * self.rel + TINY
        if spend < cash - slack:  # the usual plan: every buy fits
            return buys
        kept = []
        for col, amount, leg in buys:
            cost = amount / unit * closes[col]
            if cost < cash - slack:
                cash -= cost
                kept.append((col, amount, leg))
                continue
            per = self.steps_f[col] * closes[col]  # the quote value of one step
            fits = max(cash, 0.0) / per
            whole = math.floor(fits)
            margin = 2.0 * slack / per + self.rel * fits + TINY
            step = self.steps[col]
            shrunk = whole * step
            if (
                cost <= cash + slack
                or fits - whole <= margin
                or whole + 1 - fits <= margin
                or self._too_little(col, shrunk, closes[col])
            ):
                return self._cap_exact(buys, sells, closes, dropped)
            cash -= shrunk / unit * closes[col]
            kept.append((col, shrunk, leg))
        return kept

    def _affordable(self, col: int, cash: int, price: int) -> int:
        """Return the whole steps of ``col`` that ``cash`` buys at ``price`` (size units)."""
        step = self.steps[col]
        return max(cash, 0) // (step * price) * step

    def _as_amount(self, col: int, amount: int) -> Decimal:
        """Return ``amount`` (size units, whole steps) as the planner's Decimal: n × step."""
        return Decimal(amount // self.steps[col]) * self.markets[self.symbols[col]].amount_step

    def _cap_exact(
        self,
        buys: list[Order],
        sells: list[Order],
        closes: list[float],
        dropped: list[DroppedLeg],
    ) -> list[Order]:
        """Cap buys as :meth:`_cap_at_marks` does, in integers (the planner's exact rule)."""
        marks = {col: round(closes[col] * self.price_unit) for col, _, _ in (*buys, *sells)}
        cash = self.cash + sum(amount * marks[col] for col, amount, _ in sells)
        texts = self.texts
        exp = min([texts.cash] + [texts.moved(col, closes[col]) for col, _, _ in sells])
        kept = []
        for col, amount, leg in buys:
            cost = amount * marks[col]
            if cost > cash:
                fits = self._affordable(col, cash, marks[col])
                market = self.markets[self.symbols[col]]
                shrunk = self._as_amount(col, fits)
                reason = market.below_minimum(shrunk, Decimal(repr(closes[col])))
                if reason is not None:
                    money = as_decimal(cash, self.cash_digits, exp)
                    text = f"spot buy capped at the cash {money}: {reason}"
                    dropped.append(DroppedLeg(market.symbol, leg, shrunk, text))
                    continue
                amount, cost = fits, fits * marks[col]
            cash -= cost
            exp = min(exp, texts.moved(col, closes[col]))
            kept.append((col, amount, leg))
        return kept

    def _fill(
        self,
        sells: list[Order],
        buys: list[Order],
        opens: list[float],
        dropped: list[DroppedLeg],
        log: FillBuffer,
        stops: Mapping[int, Stops],
    ) -> Rebalanced:
        """Fill the sells, then the buys (capped at the cash left), at ``opens``; book them.

        Each fill goes into ``log`` as a row (the caller stamps their time and cycle). A
        position a fill leaves gets the leg's stops (none after a close: ``stops`` are
        the targets', rounded), as the ledger books them.
        """
        if not sells and not buys:
            return Rebalanced(0, dropped)
        row, codes = log.rows.extend, LEG_CODES  # a row's values, not the row
        unfilled: set[int] = set()  # the buys the cash no longer covers at the fill price
        size, basis, last = self.size, self.basis, self.last_price
        rate, rate_unit, unit = self.rate, self.rate_unit, self.price_unit
        cash_unit, size_unit = self.cash_unit, self.size_unit
        cash, fees, realized_total = self.cash, self.fees, self.realized
        fine, realized_unit = self.fine, self.cash_unit * self.fine
        size_f, held_steps, steps_f = self.size_f, self.held_steps, self.steps_f
        texts = self.texts
        cash_exp, floors = texts.cash, texts.sell_floor
        for col, amount, leg in sells:
            opened = opens[col]
            if cash_exp > floors[col]:
                cash_exp = min(cash_exp, texts.sold(col, opened))
            price = round(opened * unit)
            proceeds = amount * price
            fee = rate * proceeds // rate_unit  # exact: amount is a whole 10^-r multiple
            holding = size[col]
            if amount == holding:
                released = basis[col]
            else:  # the sold share of the cost, rounded half to even
                released, rest = divmod(basis[col] * amount, holding)
                if 2 * rest > holding or (2 * rest == holding and released % 2):
                    released += 1
            realized = proceeds * fine - released
            basis[col] -= released
            size[col] = holding = holding - amount
            last[col] = price
            size_f[col] = held = holding / size_unit  # the float copies, as _floats keeps them
            held_steps[col] = held / steps_f[col]
            cash += proceeds - fee
            fees += fee
            realized_total += realized
            row(
                (
                    col, True, amount / size_unit, opened, fee / cash_unit,
                    realized / realized_unit, codes[leg],
                )
            )  # fmt: skip
        for col, amount, leg in buys:
            opened = opens[col]
            price = round(opened * unit)
            cost = amount * price
            if cost > cash:  # the cash no longer covers it at the fill price
                fits = self._affordable(col, cash, price)
                if not fits:
                    market = self.markets[self.symbols[col]]
                    wanted = self._as_amount(col, amount)
                    money = as_decimal(cash, self.cash_digits, cash_exp)
                    reason = unaffordable(market.symbol, wanted, Decimal(repr(opened)), money)
                    dropped.append(DroppedLeg(market.symbol, leg, wanted, str(reason)))
                    unfilled.add(col)
                    continue
                amount, cost = fits, fits * price
            if cash_exp > texts.buy_floor[col]:
                cash_exp = min(cash_exp, texts.bought(col, opened))
            fee = rate * amount // rate_unit  # in the base received (size units)
            received = amount - fee
            size[col] = holding = size[col] + received
            basis[col] += received * price * fine
            last[col] = price
            size_f[col] = held = holding / size_unit
            held_steps[col] = held / steps_f[col]
            cash -= cost
            fees += fee * price
            row((col, False, amount / size_unit, opened, fee * price / cash_unit, 0.0, codes[leg]))
        self.cash, self.fees, self.realized = cash, fees, realized_total
        self.cash_f = cash / cash_unit
        texts.cash = cash_exp
        if stops or self.armed:  # the positions left take their legs' stops
            filled = [col for col, _, leg in (*sells, *buys) if col not in unfilled]
            legs = {col: leg for col, _, leg in (*sells, *buys)}
            for col in filled:  # one leg a symbol: each column once
                kept = legs[col] != CLOSE and size[col]
                self.stops[col] = stops.get(col, NO_STOPS) if kept else NO_STOPS
            self._rebind(filled)
        return Rebalanced(len(sells) + len(buys) - len(unfilled), dropped)

    # -- between rebalances -------------------------------------------------------------

    def stop(
        self, col: int, bar: tuple[float, float, float]
    ) -> tuple[FillReason, bool, float, float, float, float] | None:
        """Fill the stop a bar (open, high, low) triggers for ``col``'s position, if any.

        As :func:`aifap.core.fills.stop_trigger` and the fill model's ``stop_fill``: the
        whole position closes at the open (a gap through a stop) or at the stop. Returns
        (reason, sell, amount, price, fee, realized PnL) as floats for the fill log, or
        None when nothing triggers. The bar must lie on the book's price grid (the
        caller checks, see :meth:`on_grid`).
        """
        holding = self.size[col]
        tp, sl = self.stops[col]
        if not holding or (tp is None and sl is None):
            return None
        unit = self.price_unit
        open_, high, low = (round(v * unit) for v in bar)
        hit = stop_trigger(holding, sl, tp, open_, high, low)
        if hit is None:
            return None
        reason, level = hit
        price = int(level)
        at_open = float(bar[0]) if price == open_ else None  # a gap: at the open's repr
        self.texts.cash = min(self.texts.cash, self.texts.stopped(col, at_open))
        amount, fee, realized = self._stop_fill(col, price)
        self.stops[col] = NO_STOPS
        self._floats({col})
        self._rebind((col,))
        return (
            reason,
            holding > 0,
            amount / self.size_unit,
            price / unit,
            fee / self.cash_unit,
            realized / (self.cash_unit * self.fine),
        )

    def _stop_fill(self, col: int, price: int) -> tuple[int, int, int]:
        """Sell ``col``'s whole holding at ``price``: (amount, fee, realized PnL), units.

        The fee ``rate × amount × price`` is whole in cash units: ``build`` gave the
        price unit the fee rate's decimals when it allowed stops.
        """
        amount = self.size[col]
        proceeds = amount * price
        fee, rest = divmod(self.rate * proceeds, self.rate_unit)
        assert not rest, "the price unit holds the fee rate's decimals (build)"
        realized = proceeds * self.fine - self.basis[col]
        self.basis[col] = 0
        self.size[col] = 0
        self.last_price[col] = price
        self.cash += proceeds - fee
        self.fees += fee
        self.realized += realized
        return amount, fee, realized

    def _floats(self, cols: set[int]) -> None:
        """Refresh the float copies of ``cols`` (sizes, steps held) and the cash."""
        self.cash_f = self.cash / self.cash_unit
        for col in cols:
            self.size_f[col] = held = self.size[col] / self.size_unit
            self.held_steps[col] = held / self.steps_f[col]

    def on_grid(self, values: Sequence[float]) -> bool:
        """Tell whether every value is a whole number of price units (<= 15 digits)."""
        unit = self.price_unit
        for v in values:
            n = round(v * unit)
            if not abs(n) < 10**15 or n / unit != v:
                return False
        return True

