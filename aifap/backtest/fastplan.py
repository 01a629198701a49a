"""The backtester's planner: :func:`aifap.core.planner.plan_legs`, its threshold test in float64.

:func:`plan_book` returns the legs, stop moves and dropped legs that ``plan_legs``
returns for the same ledger, targets and marks, computed with the same Decimal
operations, except one decision taken in float64 first: whether ``|target − current
weight| > threshold``. The current weight (``|size| × contract size × mark / leverage /
equity``, five Decimal operations per held symbol) is only needed for that test, so
where float64 answers it with certainty no Decimal weight is computed. Where it cannot,
or in any case but the common one (no flip, a leg above the minimums), the symbol goes
through the core planner's own :func:`~aifap.core.planner._plan_symbol` with the exact
current weight.

Why the float answer is the Decimal answer. The inputs are the floats of the exact
Decimal values (``float(size)``, ``float(mark)``, ``float(contract size)``,
``float(leverage)``, ``float(equity)``, ``float(threshold)``, and the strategy's own
float weight, of which the Decimal weight is the repr), each within a relative 2^-53
of them. With every factor's magnitude in [1e-60, 1e60], no
product or quotient below leaves the normal range, so each of the five float operations
of the weight, ``s × cs × m × (1 / (lev × E))``, adds at most 2^-53 relative; with the
five conversions, ``|c_f − current| <= 1.2e-15 × |current|`` (the Decimal weight is
itself within 5 × 5e-28 relative of the exact quotient). The float difference adds
2^-53 of itself, the Decimal one 5e-28. So with ``tol = 4e-15 × (|g| + |c| + |thr|) +
1e-300`` (a margin of more than 2.5×), ``|g − c| > thr + tol`` implies the Decimal
``|goal − current| > threshold`` and ``|g − c| < thr − tol`` implies ``<=``; anything
between goes to the exact path. ``tests/unit/backtest/test_fast_path_properties.py``
checks it against the frozen reference planner, on random books and on books placed
at the threshold's boundary (short decimals exactly on it; 28-digit books within the
last digit of it).

The current weights themselves are not returned (``LegPlan.current_weights`` is empty):
the backtester reports none.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aifap.core.errors import ConfigError
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec
from aifap.core.planner import (
    OPEN,
    REDUCE,
    LegPlan,
    _Builder,
    _cap_spot_buys,
    _check_leverage,
    _margin,
    _plan_symbol,
    _rounded_stops,
    _stops_changed,
)
from aifap.core.weights import TargetWeight

ZERO = Decimal(0)
ONE = Decimal(1)
REL = 4e-15  # > 2.5 × the float64 test's relative error bound (module docstring)
TINY = 1e-300
LOW, HIGH = 1e-60, 1e60  # every factor in this range: no intermediate leaves normal floats


def plan_book(
    targets: Mapping[str, TargetWeight],
    ledger: Ledger,
    markets: Mapping[str, MarketSpec],
    marks: Mapping[str, Decimal],
    sizes: Mapping[str, float],
    mark_floats: Mapping[str, float],
    weights: Mapping[str, Any],
    *,
    leverage: Decimal,
    threshold: Decimal,
) -> LegPlan:
    """Return what ``plan_legs(targets, ledger.portfolio(), markets, marks, ...)`` returns.

    Legs, stops, dropped legs and equity are the same values, down to each Decimal's
    representation; ``current_weights`` is left empty.

    Args:
        targets: parsed strategy output (not None).
        ledger: the account (read only).
        markets: market specs by symbol.
        marks: Decimal mark prices by symbol.
        sizes: ``float(size)`` of every held position by symbol (0.0 or absent: none).
        mark_floats: ``float(marks[symbol])`` by symbol.
        weights: the strategy's output the targets were parsed from: where it is a
            float ``w`` (or a dict spec whose ``'weight'`` is), ``targets[symbol].weight``
            is ``Decimal(repr(w))`` (parse_targets makes it so), within 2^-53 of ``w``;
            other entries are converted here.
        leverage: the leverage of new exposure.
        threshold: trade only where ``|target − current weight| > threshold``.

    Raises:
        ConfigError: a symbol has no market spec or the leverage breaks a market's limit.
    """
    lev, thr = leverage, threshold
    positions = ledger.positions
    clean = {s: v for s, v in marks.items() if v.is_finite()}
    unrealized = ZERO
    for symbol, position in positions.items():
        mark = clean.get(symbol, position.mark_price)
        unrealized += position.size * position.contract_size * (mark - position.entry_price)
    equity = ledger.balance + unrealized
    out = _Builder()
    check = lev != ONE
    lev_f, thr_f, eq_f = float(lev), float(thr), float(equity)
    fast = equity > ZERO and LOW < lev_f < HIGH and LOW < eq_f < HIGH and abs(thr_f) < HIGH
    scale = 1.0 / (lev_f * eq_f) if fast else 0.0
    cs_floats: dict[Decimal, float] = {}
    for symbol in sorted(set(targets) | set(positions)):
        market = markets.get(symbol)
        if market is None:
            raise ConfigError(f"{symbol}: symbol must have a market spec")
        target = targets.get(symbol)
        held = positions.get(symbol)
        price = clean.get(symbol)
        goal = target.weight if target is not None else ZERO
        if goal == ZERO:  # a full close (or nothing): no current weight involved
            _plan_symbol(out, symbol, target, held, market, price, equity, ZERO, lev, thr)
            continue
        assert target is not None
        if check:
            _check_leverage(lev, market)
        if target.take_profit is not None or target.stop_loss is not None:
            target = _rounded_stops(target, market)
        size = held.size if held is not None else ZERO
        trade = None  # None: float64 cannot tell, the exact path decides
        if fast and price is not None:
            g = weights.get(symbol)
            if type(g) is dict:  # a spec: its weight, if a float, is the Decimal's repr too
                g = g.get("weight")
            if type(g) is not float:
                g = float(goal)
            c: float | None = 0.0
            if size != ZERO:
                cs = held.contract_size  # type: ignore[union-attr]
                cs_f = cs_floats.get(cs, 0.0)
                if cs_f == 0.0:
                    cs_f = cs_floats[cs] = float(cs)
                s, m = sizes.get(symbol, 0.0), mark_floats.get(symbol, 0.0)
                c = (
                    s * cs_f * m * scale
                    if LOW < abs(s) < HIGH and LOW < abs(m) < HIGH and LOW < cs_f < HIGH
                    else None
                )
            if c is not None:
                gap, tol = abs(g - c), REL * (abs(g) + abs(c) + abs(thr_f)) + TINY
                if gap > thr_f + tol:
                    trade = True
                elif gap < thr_f - tol:
                    trade = False
        if trade is False:
            if _stops_changed(target, held):
                out.stop_update(symbol, target)
            continue
        if trade is True and price is not None and price > ZERO:
            cs = market.contract_size
            wanted = goal * equity * lev / (price * cs)
            if size == ZERO or (size > ZERO) == (wanted > ZERO):  # no flip
                delta = wanted - size
                step = market.amount_step
                if step > ZERO:
                    delta = (delta / step).to_integral_value(ROUND_DOWN) * step
                amount = abs(delta)
                floor = market.min_notional  # amount, cs, price > 0: a notional >= 0
                if (
                    amount > ZERO
                    and amount >= market.min_amount
                    and (floor <= ZERO or amount * cs * price >= floor)
                ):
                    reduces = size != ZERO and (delta > ZERO) != (size > ZERO)
                    out.order(symbol, REDUCE if reduces else OPEN, delta, target, reduce=reduces)
                    continue
        # the exact path: the core planner's own rules with the Decimal current weight
        current = ZERO
        if held is not None and size != ZERO and equity > ZERO:
            margin = _margin(held, price if price is not None else held.mark_price)
            current = margin / equity if size > ZERO else -margin / equity
        _plan_symbol(out, symbol, target, held, market, price, equity, current, lev, thr)
    _cap_spot_buys(out, markets, clean, ledger.cash)
    return LegPlan((*out.reducing, *out.opening), tuple(out.stops), tuple(out.dropped), equity, {})
