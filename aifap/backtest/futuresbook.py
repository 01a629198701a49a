"""An exact integer futures book: the spot book's method for USDT-M perpetuals.

:class:`aifap.backtest.spotbook.SpotBook` keeps a spot account as integers; this
subclass keeps a futures one, with what futures add: signed sizes (shorts, and flips
as a close leg then an open leg), contract sizes, leverage in the planner's weights
and sizes, fees in the quote, and SL/TP stops (rounded to the tick as the planner
rounds them, moved without a trade when only they change, triggered between
rebalances as :func:`aifap.core.fills.stop_trigger` triggers them). Units:

- sizes in ``10^-a`` contracts (``a``: the finest amount step's or minimum's decimals);
- contract sizes in ``10^-c`` base, prices in ``10^-p`` quote (``p`` also holds every
  market's tick, so a stop rounded to its tick is a whole number of units);
- cash, fees and equity in ``10^-(r + a + c + p)`` quote (``r``: the fee rate's
  decimals, so ``rate × amount × contract size × price`` is whole); cost basis and
  realized PnL 20 decimals finer, as in the spot book.

The decisions are :func:`aifap.core.planner.plan_legs`' for futures (no cash cap), in
float64 where a proven band decides them and with exact fractions where it does not;
the band accounts for the cancellation a short brings into the equity (cash above the
equity, negative position values), see :meth:`FuturesBook._marked`. Fills at the next
open, booked exactly. Funding is not kept here: a run with funding events uses the
Decimal ledger. ``tests/unit/backtest/test_futures_book.py`` checks both paths against
each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from math import remainder

import numpy as np

from aifap.backtest.log import LEG_CODES, FillBuffer
from aifap.backtest.specs import NO_STOPS, TINY, Stops
from aifap.backtest.spotbook import FINE, ONE, ZERO, Goals, Rebalanced, SpotBook
from aifap.backtest.units import MAX_DIGITS, Exponents, as_decimal, decimals, grid, units_of
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.planner import CLOSE, OPEN, REDUCE, DroppedLeg
from aifap.core.portfolio import Portfolio, Position, new_position

Leg = tuple[int, int, str]  # (column, signed size units, leg)


class FuturesBook(SpotBook):
    """One USDT-M futures account as integers (see the module docstring; slots: SpotBook)."""

    __slots__ = (
        "c", "cs_f", "cs_unit", "funding", "funding_fee", "lev_f", "leverage", "r",
        "step_values"
    )  # fmt: skip

    shorts = True

    def __init__(
        self,
        symbols: Sequence[str],
        markets: Mapping[str, MarketSpec],
        capital: int,
        rate: int,
        units: tuple[int, int, int, int],
        steps: list[int],
        min_amounts: list[int],
        min_notionals: list[int],
        contract_sizes: list[int],
        ticks: list[int],
        leverage: Decimal,
        texts: Exponents,
    ) -> None:
        """Hold ``capital`` (cash units) and no position; ``units``: (a, c, p, r)."""
        a, c, p, r = units
        super().__init__(
            symbols, markets, capital, rate, a, p, r, steps, min_amounts, min_notionals, texts,
            ticks,
        )  # fmt: skip
        self.c, self.r = c, r
        self.cash_unit: int = 10 ** (r + a + c + p)
        self.cash_f = capital / self.cash_unit
        self.notional_scale = 10**r  # notional units (a + c + p) to cash units
        self.cs = contract_sizes
        self.cs_unit: int = 10**c
        self.cs_f = [cs / self.cs_unit for cs in contract_sizes]
        # the quote value of one amount step at a price of 1
        self.step_values = [cs * step for cs, step in zip(self.cs_f, self.steps_f, strict=True)]
        self.leverage = leverage
        self.lev_f = float(leverage)
        self.funding = 0  # paid (+) or received (−), cash units
        self.funding_fee = [0] * len(self.symbols)  # per position, since it opened

    @classmethod
    def build_futures(
        cls,
        symbols: Sequence[str],
        markets: Mapping[str, MarketSpec],
        capital: Decimal,
        rate: Decimal,
        leverage: Decimal,
        opens: np.ndarray,
        closes: np.ndarray,
        funding_rates: np.ndarray | None = None,
    ) -> FuturesBook | None:
        """Return the book of a futures run, or None when it needs the Decimal ledger.

        Needs: futures markets with an amount step, a leverage the markets allow (the
        Decimal planner words the error otherwise), and the spot book's conditions on
        the capital, the fee rate and the prices (a decimal grid of <= 15 digits).
        ``funding_rates`` (the run's funding events' rates) must lie on a decimal grid
        too: the cash unit holds ``size × contract size × mark × rate``.
        """
        specs = [markets[s] for s in symbols]
        if not symbols or any(m.market_type is not MarketType.FUTURES for m in specs):
            return None
        if any(m.amount_step <= ZERO or m.price_step <= ZERO for m in specs):
            return None
        if not leverage.is_finite() or leverage < ONE:
            return None
        if leverage != ONE and any(leverage > m.max_leverage for m in specs):
            return None
        if not (np.isfinite(opens).all() and np.isfinite(closes).all()):
            return None
        if (opens <= 0).any() or (closes <= 0).any():
            return None
        r = decimals(rate)
        if funding_rates is not None and funding_rates.size:
            f = grid(funding_rates)
            if f is None:
                return None
            r = max(r, f)
        a = max(max(decimals(m.amount_step), decimals(m.min_amount)) for m in specs)
        c = max(decimals(m.contract_size) for m in specs)
        grids = []
        for col in range(len(symbols)):
            k = grid(opens[:, col])
            k = None if k is None else grid(closes[:, col], k)
            if k is None:
                return None
            grids.append(k)
        ticks = [decimals(m.price_step) for m in specs]
        notional = max(decimals(m.min_notional) for m in specs) - a - c
        p = max(*grids, *ticks, notional, decimals(capital) - a - c - r)
        if p > MAX_DIGITS or max(float(opens.max()), float(closes.max())) * 10.0**p >= 1e15:
            return None
        if r + a + c + p > 48 or r > MAX_DIGITS:
            return None
        q = r + a + c + p
        values = [units_of(capital, q), units_of(rate, r)]
        steps = [units_of(m.amount_step, a) for m in specs]
        minimums = [units_of(m.min_amount, a) for m in specs]
        notionals = [units_of(m.min_notional, a + c + p) for m in specs]
        sizes = [units_of(m.contract_size, c) for m in specs]
        tick_units = [units_of(m.price_step, p) for m in specs]
        every = (*values, *steps, *minimums, *notionals, *sizes, *tick_units)
        if None in every:  # (a generator over it trips Cython: see setup.py)
            return None
        texts = Exponents(specs, rate, capital, grids)
        return cls(
            symbols, markets, values[0], values[1], (a, c, p, r),  # type: ignore[arg-type]
            steps, minimums, notionals, sizes, tick_units, leverage, texts,  # type: ignore[arg-type]
        )  # fmt: skip

    # -- views ------------------------------------------------------------------------

    def _positions(self, marks: Mapping[str, Decimal] | None) -> dict[str, Position]:
        out = {}
        digits = self.cash_digits + FINE
        for i, size in enumerate(self.size):
            if not size:
                continue
            symbol = self.symbols[i]
            market = self.markets[symbol]
            held = as_decimal(size, self.a)
            entry = as_decimal(self.basis[i], digits) / (held * market.contract_size)
            mark = marks.get(symbol) if marks else None
            if mark is None:
                mark = as_decimal(self.last_price[i], self.p)
            tp, sl = self.stops[i]
            out[symbol] = new_position(
                symbol,
                held,
                entry,
                mark,
                self.leverage,
                market.contract_size,
                None if tp is None else as_decimal(tp, self.p),
                None if sl is None else as_decimal(sl, self.p),
                as_decimal(self.funding_fee[i], self.cash_digits),
            )
        return out

    @property
    def cash_digits(self) -> int:
        """Return the decimals of the cash unit."""
        return self.r + self.a + self.c + self.p

    def portfolio(self, marks: Mapping[str, Decimal] | None = None) -> Portfolio:
        """Return the account as the Decimal ledger's :meth:`~Ledger.portfolio` would."""
        digits = self.cash_digits
        fine = self.fine
        paid = self.fees + self.funding
        balance = as_decimal((self.capital - paid) * fine + self.realized, digits + FINE)
        cash = as_decimal(self.cash, digits)
        return Portfolio(balance=balance, positions=self._positions(marks), cash=cash)

    def ledger(self, ledger: Ledger) -> Ledger:
        """Write this book into ``ledger`` (opened with the same capital) and return it."""
        digits = self.cash_digits
        ledger.cash = as_decimal(self.cash, digits)
        ledger.fees = as_decimal(self.fees, digits)
        ledger.funding = as_decimal(self.funding, digits)
        ledger.realized_pnl = as_decimal(self.realized, digits + FINE)
        ledger.positions = self._positions(None)
        return ledger

    # -- a rebalance --------------------------------------------------------------------

    def _marked(self, closes: list[float]) -> tuple[float, float]:
        """Return the equity at ``closes`` (a float sum) and the float tests' relative band.

        The sum is the cash plus each position's value; with shorts the cash exceeds the
        equity and some values are negative, so the sum's error is relative to Σ |terms|,
        not to the equity: the band grows by that ratio (while the equity is > 0).
        """
        size_f, cs_f = self.size_f, self.cs_f
        total = gross = 0.0
        for col in range(len(size_f)):
            value = size_f[col] * cs_f[col] * closes[col]
            total += value
            gross += abs(value)
        equity = self.cash_f + total
        if not equity > 0.0:
            return equity, math.inf
        return equity, self.rel * max(1.0, (abs(self.cash_f) + gross) / equity)

    def rebalance(
        self,
        goals: Goals,
        closes: list[float],
        opens: list[float],
        threshold: Decimal,
        log: FillBuffer,
    ) -> Rebalanced | None:
        """Plan at ``closes``, fill at ``opens``, book and log; None (Decimal ledger) if worth <= 0.

        As :meth:`SpotBook.rebalance`, with the futures planner's rules: the weight is
        margin / equity (``|size| × cs × mark / leverage``), a sign change is a close leg
        then an open leg, and a symbol whose trade is not made (within the threshold,
        or under a minimum while held) gets its new stops if they changed.
        """
        equity_f, rel = self._marked(closes)
        if not equity_f > 0.0:
            return None
        levered = self.lev_f * equity_f  # the notional a weight of 1 buys
        thr = float(threshold)
        orders, moved, dropped = self._plan(goals, closes, threshold, thr, rel, levered)
        fills = self._fill_futures(orders, goals.stops, opens, log) if orders else 0
        if moved:
            for col, new in moved.items():
                self.stops[col] = new
            self._rebind(moved)
        return Rebalanced(fills, dropped)

    def _plan(
        self,
        goals: Goals,
        closes: list[float],
        threshold: Decimal,
        thr: float,
        rel: float,
        levered: float,
    ) -> tuple[list[Leg], dict[int, Stops], list[DroppedLeg]]:
        """Return the legs to fill (closes and reductions first), the stops moved, the legs dropped.

        ``thr``: the threshold as a float; ``rel``: the relative error band of the float
        tests (:meth:`_marked`); ``levered``: leverage × equity, the notional a weight of 1
        buys. A symbol whose trade is not made (within the threshold, or under a minimum
        while held) gets its new stops if they changed.
        """
        weights, targeted, stops = goals.weights, goals.targeted, goals.stops
        held_steps, step_values = self.held_steps, self.step_values
        reducing: list[Leg] = []  # (column, signed size units, leg)
        opening: list[Leg] = []
        moved: dict[int, Stops] = {}  # stop updates without a trade
        dropped: list[DroppedLeg] = []
        size, steps, current_stops = self.size, self.steps, self.stops
        min_amounts, min_notionals = self.min_amounts, self.min_notionals
        equity: int | None = None
        for col in self.order:
            holding = size[col]
            weight = weights[col]
            if not targeted[col] or weight == 0.0:
                if holding:
                    reducing.append((col, -holding, CLOSE))
                continue
            per_step = closes[col] * step_values[col]  # quote value of one step
            held = held_steps[col]
            current = held * per_step / levered
            gap = abs(weight - current)
            tol = (abs(weight) + abs(current) + thr) * rel + TINY
            if gap < thr - tol:
                if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                    moved[col] = stops.get(col, NO_STOPS)  # moved without a trade
                continue
            flip = holding != 0 and (holding > 0) != (weight > 0.0)
            if flip:
                held = 0.0
            wanted = weight * levered / per_step
            x = wanted - held
            if abs(remainder(x, 1.0)) > (abs(wanted) + abs(held)) * rel + TINY and gap > thr + tol:
                delta, negative = int(x), x < 0.0  # int(): toward zero, as ROUND_DOWN
            else:  # float64 cannot tell: exact fractions decide
                if equity is None:
                    equity = self._equity(closes)
                decided = self._exact_futures(goals, col, equity, closes[col], threshold, flip)
                if decided is None:
                    if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                        moved[col] = stops.get(col, NO_STOPS)
                    continue
                delta, negative = decided
            if flip:
                reducing.append((col, -holding, CLOSE))
                holding = 0
            amount = abs(delta) * steps[col]
            reduces = holding != 0 and (delta > 0) != (holding > 0)
            if (
                amount < min_amounts[col]
                or not amount
                or (min_notionals[col] and self._too_little(col, amount, closes[col]))
            ):
                leg = REDUCE if reduces else OPEN
                dropped.append(self._too_small(col, delta, negative, leg, closes[col]))
                if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                    moved[col] = stops.get(col, NO_STOPS)
                continue
            if reduces:
                reducing.append((col, amount if delta > 0 else -amount, REDUCE))
            else:
                opening.append((col, amount if delta > 0 else -amount, OPEN))
        return reducing + opening, moved, dropped

    def _equity(self, closes: list[float]) -> int:
        """Return cash + Σ size × contract size × close, exact (cash units)."""
        unit, scale = self.price_unit, self.notional_scale
        cs = self.cs
        held = ((i, s) for i, s in enumerate(self.size) if s)
        return self.cash + scale * sum(s * cs[i] * round(closes[i] * unit) for i, s in held)

    def _exact_futures(
        self,
        goals: Goals,
        col: int,
        equity: int,
        close: float,
        threshold: Decimal,
        flip: bool,
    ) -> tuple[int, bool] | None:
        """Decide one symbol with fractions: None (within the threshold) or (steps, delta < 0)."""
        weight = goals.exact.get(col)
        goal = Fraction(weight if weight is not None else Decimal(repr(goals.weights[col])))
        held = Fraction(self.size[col], self.size_unit)
        price = Fraction(round(close * self.price_unit), self.price_unit)
        cs = Fraction(self.cs[col], self.cs_unit)
        lev = Fraction(self.leverage)
        value = Fraction(equity, self.cash_unit)
        current = held * cs * price / lev / value
        if abs(goal - current) <= Fraction(threshold):
            return None
        if flip:
            held = Fraction(0)
        delta = (goal * value * lev / (price * cs) - held) / Fraction(
            self.steps[col], self.size_unit
        )
        return int(delta), delta < 0  # int(): toward zero, as ROUND_DOWN

    def _book(self, col: int, signed: int, price: int, fee: int) -> int:
        """Book a fill of ``signed`` size units at ``price``; return its realized PnL (fine)."""
        size, basis, fine = self.size, self.basis, self.fine
        holding = size[col]
        notional = signed * self.cs[col] * price * self.notional_scale  # cash units, signed
        new = holding + signed
        if not holding:  # opening from flat (the usual open leg)
            realized = 0
            basis[col] = notional * fine
        elif not new:  # a whole close (the usual close leg, or a stop)
            realized = -notional * fine - basis[col]
            basis[col] = 0
            self.funding_fee[col] = 0
        elif (signed > 0) == (holding > 0):  # adding to the position
            realized = 0
            basis[col] += notional * fine
        else:  # reducing, or through zero
            held, moved = abs(holding), abs(signed)
            closed = min(moved, held)
            if closed == held:
                released = basis[col]
            else:  # the closed share of the cost, rounded half to even
                released, rest = divmod(basis[col] * closed, held)
                if 2 * rest > held or (2 * rest == held and released % 2):
                    released += 1
            # a long sells its closed part (+ proceeds), a short buys it back (− cost)
            share = notional * closed // moved
            realized = -share * fine - released
            basis[col] -= released
            if (new > 0) != (holding > 0):  # through zero: the rest opens at price
                basis[col] = (notional - share) * fine
                self.funding_fee[col] = 0  # a new position starts with no funding paid
        size[col] = new
        self.last_price[col] = price
        self.cash -= notional + fee
        self.fees += fee
        self.realized += realized
        return realized

    def _fill_futures(
        self,
        orders: list[tuple[int, int, str]],
        stops: Mapping[int, Stops],
        opens: list[float],
        log: FillBuffer,
    ) -> int:
        """Fill ``orders`` (closes and reductions first) at ``opens``; book and log them."""
        row, codes = log.rows.extend, LEG_CODES  # a row's values, not the row
        unit, rate, cs = self.price_unit, self.rate, self.cs
        cash_unit, size_unit = self.cash_unit, self.size_unit
        realized_unit = cash_unit * self.fine
        size, steps_f, current = self.size, self.steps_f, self.stops
        size_f, held_steps = self.size_f, self.held_steps
        limits, n, nan = self.limits, len(self.symbols), math.nan
        armed = False
        for col, signed, leg in orders:
            opened = opens[col]
            price = round(opened * unit)
            amount = abs(signed)
            fee = rate * amount * cs[col] * price  # exact in cash units
            realized = self._book(col, signed, price, fee)
            row(
                (
                    col, signed < 0, amount / size_unit, opened, fee / cash_unit,
                    realized / realized_unit, codes[leg],
                )
            )  # fmt: skip
            # the float copies and trigger bounds (_floats and _rebind, inline: per fill)
            holding = size[col]
            size_f[col] = held = holding / size_unit
            held_steps[col] = held / steps_f[col]
            tp, sl = current[col] = (
                NO_STOPS if leg == CLOSE or not holding else stops.get(col, NO_STOPS)
            )
            if not holding or (tp is None and sl is None):
                limits[col] = limits[n + col] = nan
                continue
            armed = True
            tp_f = nan if tp is None else tp / unit
            sl_f = nan if sl is None else sl / unit
            limits[col], limits[n + col] = (sl_f, -tp_f) if holding > 0 else (tp_f, -sl_f)
        self.cash_f = self.cash / cash_unit
        self.armed = self.armed or armed
        return len(orders)

    # -- between rebalances -------------------------------------------------------------

    def _stop_fill(self, col: int, price: int) -> tuple[int, int, int]:
        """Close ``col``'s whole position at ``price``: (amount, fee, realized PnL), units."""
        holding = self.size[col]
        amount = abs(holding)
        fee = self.rate * amount * self.cs[col] * price
        return amount, fee, self._book(col, -holding, price, fee)

    def fund(self, col: int, rate: float, close: float) -> None:
        """Settle one funding interval on ``col``'s position: ``size × cs × close × rate``.

        As :meth:`Ledger.apply_funding`: paid (+) or received (−) out of the cash, the
        position marked at ``close``. ``close`` must lie on the price grid (the caller
        checks, see :meth:`on_grid`); ``rate`` lies on the run's rate grid (``build``).
        """
        mark = round(close * self.price_unit)
        paid = self.size[col] * self.cs[col] * mark * round(rate * self.rate_unit)
        self.funding += paid
        self.funding_fee[col] += paid
        self.cash -= paid
        self.cash_f = self.cash / self.cash_unit
        self.last_price[col] = mark
