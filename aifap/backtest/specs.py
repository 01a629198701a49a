"""A rebalance's spec outputs read by the integer books: float weights and stops on the tick.

What :func:`aifap.core.weights.parse_targets` accepts without a doubt, read without a
Decimal per value (see :meth:`aifap.backtest.spotbook.SpotBook.parse`). Compiled with
the C types of ``specs.pxd`` where the books are (``aifap/backtest/compiled.py``): the
loop then runs on C doubles; as Python it gives the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

import numpy as np

from aifap.core.weights import SPEC_KEYS, STOP_LOSS_KEYS, TAKE_PROFIT_KEYS

Stops = tuple[int | None, int | None]  # a position's (take profit, stop loss), price units
NO_STOPS: Stops = (None, None)
MISSING = object()  # a key a spec does not have
TINY = 1e-300
INF = math.inf
TICKS_MAX = 2.0**50  # a stop of more ticks is rounded by the planner's Decimal rounding
SpecKeys = tuple[str | None, str | None] | None  # a spec layout's (take-profit key, stop-loss key)
FLOAT64 = np.float64  # pandas' scalars: a stop read off a frame


def read_specs(
    cols: list[int],
    specs: Collection[object],
    closes: list[float],
    ticks_f: list[float],
    ticks: list[int],
    lowest: float,
    known: dict[tuple[str, ...], SpecKeys],
    tick_units: Callable[[int, float], int],
) -> tuple[list[float], dict[int, Stops]] | None:
    """Return the weights and the stops (price units) of ``specs``; None if not surely valid.

    ``specs``: the output's values in the order of their columns ``cols``, each a float
    weight or a ``{'weight': w, 'presetStopSurplusPrice': tp, 'presetStopLossPrice':
    sl}`` dict (or the aliases). Weights are floats in [``lowest``, inf); stops are
    finite floats > 0 on the right side of ``closes`` (float comparisons of such values
    are those of their reprs), each rounded to its tick (``ticks_f`` as floats,
    ``ticks`` in price units) in float64 where that is surely the planner's rounding,
    else by ``tick_units``. ``known`` caches each key tuple's layout.
    """
    weights: list[float] = []
    stops: dict[int, Stops] = {}
    # the last spec's (key count, take-profit key, stop-loss key): a spec of as many
    # keys that has these has no other (a strategy writes every spec alike)
    count, tp_key, sl_key = 0, None, None
    if len(cols) != len(specs):
        raise ValueError(f"{len(cols)} columns for {len(specs)} specs")
    i = 0
    for spec in specs:  # with its column: cols[i] (no zip: a tuple per spec)
        col = cols[i]
        i += 1
        if type(spec) is float:
            weights.append(spec)
            continue
        if type(spec) is not dict:
            return None
        weight = tp = sl = None
        if len(spec) == count:
            weight = spec.get("weight", MISSING)
            tp = spec.get(tp_key, MISSING) if tp_key else None
            sl = spec.get(sl_key, MISSING) if sl_key else None
        if weight is None or weight is MISSING or tp is MISSING or sl is MISSING:
            names = tuple(spec)
            keys = known.get(names)
            if keys is None:
                keys = known[names] = spec_layout(names)
            if not keys:
                return None
            count, (tp_key, sl_key) = len(names), keys
            weight = spec["weight"]
            tp = spec[tp_key] if tp_key else None
            sl = spec[sl_key] if sl_key else None
        if type(weight) is not float:
            return None
        w = weight
        if not lowest <= w < INF:
            return None
        weights.append(w)
        if (tp is None and sl is None) or w == 0.0:
            continue
        close = closes[col]
        buying = w > 0.0
        tp_units = sl_units = None
        tick = ticks_f[col]
        # not a float, or on the wrong side of the price: parse_targets words it
        if tp is not None:
            if type(tp) is not float and type(tp) is not FLOAT64:
                return None
            price = float(tp)
            if not (close < price < INF if buying else 0.0 < price < close):
                return None
            tp_units = _on_tick(price, tick, ticks[col]) or tick_units(col, price)
        if sl is not None:
            if type(sl) is not float and type(sl) is not FLOAT64:
                return None
            price = float(sl)
            if not (0.0 < price < close if buying else close < price < INF):
                return None
            sl_units = _on_tick(price, tick, ticks[col]) or tick_units(col, price)
        stops[col] = (tp_units, sl_units)
    return weights, stops


def _on_tick(price: float, tick: float, units: int) -> int | None:
    """Return ``price`` (> 0) rounded to its tick, in price units, where float64 surely can.

    ``price / tick`` is within 4e-16 relative of the exact quotient; away from a half by
    more than that, its nearest integer is the planner's rounding (ties to even). None:
    too close to a half, or too many ticks; the caller's exact rounding decides. The
    nearest integer is ``int(y + 0.5)`` (a C cast when compiled): it differs from
    ``round(y)`` only where the test below fails anyway.
    """
    y = price / tick
    if not y < TICKS_MAX:
        return None
    n = int(y + 0.5)
    if abs(y - n) < 0.5 - y * 1e-15 - TINY:
        return n * units
    return None


def spec_layout(names: tuple[str, ...]) -> SpecKeys:
    """Return a spec's (take-profit key, stop-loss key) for keys ``names``, each or None.

    None (``parse_targets`` decides) for keys it must look at: unknown ones, no
    ``weight``, or two aliases of one stop.
    """
    if not set(names) <= SPEC_KEYS or "weight" not in names:
        return None
    tp = [key for key in TAKE_PROFIT_KEYS if key in names]
    sl = [key for key in STOP_LOSS_KEYS if key in names]
    if len(tp) > 1 or len(sl) > 1:
        return None
    return (tp[0] if tp else None, sl[0] if sl else None)
