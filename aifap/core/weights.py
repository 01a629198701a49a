"""Parse a strategy's output into validated ``TargetWeight`` values.

The strategy contract (DESIGN.md): ``{symbol: weight}`` or ``{symbol: {'weight': w,
'presetStopSurplusPrice': tp, 'presetStopLossPrice': sl}}`` (``take_profit`` /
``stop_loss`` are aliases). A weight is margin / trader equity; negative is short
(futures only). Symbols left out are targeted at 0 by the planner; ``None`` means
"no opinion, keep positions". Anything else is rejected with ``InvalidTargetError``
naming the symbol and the rule, so no order is ever sent on a bad output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from math import isfinite
from numbers import Real
from typing import Any

from aifap.core.errors import InvalidTargetError
from aifap.core.markets import MarketSpec, MarketType, to_decimal

TAKE_PROFIT_KEYS = ("presetStopSurplusPrice", "take_profit")
STOP_LOSS_KEYS = ("presetStopLossPrice", "stop_loss")
SPEC_KEYS = frozenset({"weight", *TAKE_PROFIT_KEYS, *STOP_LOSS_KEYS})
OUTPUT = "<strategy output>"
# float weights like 1/7 sum to 1.00000000000000005 through their reprs: not a breach
GROSS_TOLERANCE = Decimal("1e-9")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TargetWeight:
    """What the strategy wants for one symbol: a weight and optional SL/TP prices."""

    symbol: str
    weight: Decimal
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None


_new = object.__new__
_set_symbol, _set_weight, _set_tp, _set_sl = (
    TargetWeight.__dict__[f.name].__set__ for f in fields(TargetWeight)
)


def _weight_only(symbol: str, weight: Decimal) -> TargetWeight:
    """Return ``TargetWeight(symbol, weight)``, its slots set directly (per target, per call)."""
    target = _new(TargetWeight)
    _set_symbol(target, symbol)
    _set_weight(target, weight)
    _set_tp(target, None)
    _set_sl(target, None)
    return target


def _number(symbol: str, field: str, value: Any) -> Decimal:
    if type(value) is float and math.isfinite(value):  # the usual case, answered first
        return Decimal(repr(value))
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise InvalidTargetError(symbol, f"{field} must be a number", value=type(value).__name__)
    try:
        number = value if isinstance(value, Decimal) else float(value)
    except OverflowError:  # an int beyond float64's range
        number = math.inf
    finite = number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)
    if not finite:
        raise InvalidTargetError(symbol, f"{field} must be a finite number", value=value)
    return to_decimal(number)


def _pick(symbol: str, spec: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    present = [key for key in keys if spec.get(key) is not None]
    if len(present) > 1:
        raise InvalidTargetError(symbol, f"give only one of {' / '.join(keys)}", value=present)
    return spec[present[0]] if present else None


def _parse_one(symbol: str, spec: Any) -> TargetWeight:
    if type(spec) is float:
        return TargetWeight(symbol, _number(symbol, "weight", spec))
    if type(spec) is dict or isinstance(spec, Mapping):
        unknown = () if spec.keys() <= SPEC_KEYS else sorted(set(map(str, spec)) - SPEC_KEYS)
        if unknown:
            raise InvalidTargetError(
                symbol, f"spec keys must be among {sorted(SPEC_KEYS)}", value=unknown
            )
        if "weight" not in spec:
            raise InvalidTargetError(symbol, "spec must have a 'weight'")
        weight = _number(symbol, "weight", spec["weight"])
        tp_raw = _pick(symbol, spec, TAKE_PROFIT_KEYS)
        sl_raw = _pick(symbol, spec, STOP_LOSS_KEYS)
        tp = None if tp_raw is None else _number(symbol, "take profit", tp_raw)
        sl = None if sl_raw is None else _number(symbol, "stop loss", sl_raw)
        for field, price in (("take profit", tp), ("stop loss", sl)):
            if price is not None and price <= 0:
                raise InvalidTargetError(symbol, f"{field} must be > 0", value=price)
        return TargetWeight(symbol, weight, take_profit=tp, stop_loss=sl)
    return TargetWeight(symbol, _number(symbol, "weight", spec))


def _check_stops(target: TargetWeight, price: Decimal) -> None:
    symbol, tp, sl = target.symbol, target.take_profit, target.stop_loss
    if target.weight > 0:
        if sl is not None and sl >= price:
            raise InvalidTargetError(symbol, f"stop loss on a long must be < price {price}", sl)
        if tp is not None and tp <= price:
            raise InvalidTargetError(symbol, f"take profit on a long must be > price {price}", tp)
    elif target.weight < 0:
        if sl is not None and sl <= price:
            raise InvalidTargetError(symbol, f"stop loss on a short must be > price {price}", sl)
        if tp is not None and tp >= price:
            raise InvalidTargetError(symbol, f"take profit on a short must be < price {price}", tp)


def parse_targets(
    output: Any,
    markets: Mapping[str, MarketSpec],
    *,
    prices: Mapping[str, Decimal | float] | None = None,
    max_gross_weight: Decimal | float = Decimal(1),
) -> dict[str, TargetWeight] | None:
    """Validate a strategy's output and return its targets by symbol.

    Args:
        output: what ``strategy(context, config_dict)`` returned.
        markets: the tradable markets by compact symbol; other symbols are rejected.
        prices: current prices, used to check SL/TP sides (skipped where missing).
        max_gross_weight: the limit on the sum of absolute weights.

    Returns:
        None when the strategy has no opinion (keep positions), else the targets
        for the symbols it named (the planner closes the ones it left out).

    Raises:
        InvalidTargetError: naming the symbol and the rule that was broken.
    """
    if output is None:
        return None
    if not isinstance(output, Mapping):
        raise InvalidTargetError(
            OUTPUT, "must be a dict of {symbol: weight or spec} or None", type(output).__name__
        )
    targets: dict[str, TargetWeight] = {}
    spot = MarketType.SPOT
    floats = 0.0  # Σ |weight| of plain float weights, in float64 (see _gross)
    for symbol, spec in output.items():
        if type(symbol) is not str and not isinstance(symbol, str):
            raise InvalidTargetError(str(symbol), "symbol must be a string", type(symbol).__name__)
        market = markets.get(symbol)
        if market is None:
            raise InvalidTargetError(symbol, "symbol must be one of the session's markets")
        if type(spec) is float and isfinite(spec):  # the usual case: a plain float weight
            weight = Decimal(repr(spec))
            if spec < 0.0 and market.market_type is spot:
                raise InvalidTargetError(symbol, "weight must be >= 0 on spot (no shorts)", weight)
            targets[symbol] = _weight_only(symbol, weight)
            floats += abs(spec)
            continue
        target = _parse_one(symbol, spec)
        weight = target.weight
        if weight < ZERO and market.market_type is spot:
            raise InvalidTargetError(symbol, "weight must be >= 0 on spot (no shorts)", weight)
        stops = target.take_profit is not None or target.stop_loss is not None
        if stops and prices is not None and symbol in prices and weight != 0:
            _check_stops(target, to_decimal(prices[symbol]))
        targets[symbol] = target
        floats = math.nan  # not all plain floats: the Decimal sum decides
    limit = to_decimal(max_gross_weight)
    bound = limit + GROSS_TOLERANCE
    if not _surely_within(floats, len(targets), bound):
        gross = ZERO  # Σ |weight| in output order, as sum() of them would add
        for target in targets.values():
            gross += abs(target.weight)
        if gross > bound:
            raise InvalidTargetError(OUTPUT, f"gross weight must be <= {limit}", value=gross)
    return targets


def gross_bound(max_gross_weight: Decimal | float) -> float:
    """Return the float64 bound :func:`floats_within_gross` compares a float sum against."""
    return float(to_decimal(max_gross_weight) + GROSS_TOLERANCE) * (1.0 - 1e-15)


def floats_within_gross(total: float, count: int, bound: float) -> bool:
    """Tell whether ``count`` float weights summing (|w|, in float64) to ``total`` surely pass.

    ``bound`` is :func:`gross_bound` of the limit. True only where :func:`parse_targets`
    would surely accept their gross weight; False leaves it to the exact Decimal sum.
    Each float weight is within 2^-53 relative of its shortest repr (the Decimal weight),
    a float sum of ``count`` terms in any order is within ``count × 2^-53`` of the exact
    one, and the Decimal sum rounds by 5e-28 per addition; twice that margin also covers
    this test's own rounding and the bound's.
    """
    if not total < 1e300:  # NaN (not all floats) or out of range
        return False
    return total * (1.0 + (count + 2) * 4.5e-16) + 1e-300 < bound


def _surely_within(total: float, count: int, bound: Decimal) -> bool:
    """Tell whether a float64 sum of ``count`` |weights| proves their Decimal sum <= ``bound``."""
    return floats_within_gross(total, count, float(bound) * (1.0 - 1e-15))
