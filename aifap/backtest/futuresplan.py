"""The futures book's planning loop: each symbol's leg, decided in float64 where that is sure.

Part of :meth:`aifap.backtest.futuresbook.FuturesBook.rebalance`, on its own so that
Cython compiles it with the C doubles of ``futuresplan.pxd`` where the books are
compiled (``aifap/backtest/compiled.py``); as Python it decides the same.
"""

from __future__ import annotations

from decimal import Decimal
from math import remainder
from typing import TYPE_CHECKING

from aifap.backtest.specs import NO_STOPS, TINY, Stops
from aifap.core.planner import CLOSE, OPEN, REDUCE, DroppedLeg

if TYPE_CHECKING:
    from aifap.backtest.futuresbook import FuturesBook
    from aifap.backtest.spotbook import Goals

Leg = tuple[int, int, str]  # (column, signed size units, leg)


def plan_futures(
    book: FuturesBook,
    goals: Goals,
    closes: list[float],
    threshold: Decimal,
    thr: float,
    rel: float,
    levered: float,
) -> tuple[list[Leg], dict[int, Stops], list[DroppedLeg]]:
    """Return the legs to fill (closes and reductions first), the stops moved, the legs dropped.

    ``thr``: the threshold as a float; ``rel``: the relative error band of the float
    tests (:meth:`FuturesBook._band`); ``levered``: leverage × equity, the notional a
    weight of 1 buys. A symbol whose trade is not made (within the threshold, or under a
    minimum while held) gets its new stops if they changed.
    """
    weights, targeted, stops = goals.weights, goals.targeted, goals.stops
    held_steps, step_values = book.held_steps, book.step_values
    reducing: list[Leg] = []  # (column, signed size units, leg)
    opening: list[Leg] = []
    moved: dict[int, Stops] = {}  # stop updates without a trade
    dropped: list[DroppedLeg] = []
    size, steps, current_stops = book.size, book.steps, book.stops
    min_amounts, min_notionals = book.min_amounts, book.min_notionals
    equity: int | None = None
    for col in book.order:
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
                equity = book._equity(closes)
            decided = book._exact_futures(goals, col, equity, closes[col], threshold, flip)
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
            or (min_notionals[col] and book._too_little(col, amount, closes[col]))
        ):
            leg = REDUCE if reduces else OPEN
            dropped.append(book._too_small(col, delta, negative, leg, closes[col]))
            if holding and stops.get(col, NO_STOPS) != current_stops[col]:
                moved[col] = stops.get(col, NO_STOPS)
            continue
        if reduces:
            reducing.append((col, amount if delta > 0 else -amount, REDUCE))
        else:
            opening.append((col, amount if delta > 0 else -amount, OPEN))
    return reducing + opening, moved, dropped
