"""The rebalancing planner: targets + portfolio -> ordered orders, stop updates, dropped legs.

Backtest, paper and live all call :func:`plan`; none has a copy of these rules:

- ``weight = position margin / equity`` with the margin at the mark price
  (``|size| × contract size × mark / leverage``) and equity = wallet balance + uPnL.
- A symbol trades only where ``|target − current| > threshold`` (strict).
- A target of 0, or a held symbol left out of a non-None output, always closes the
  whole position: reduce-only, whatever the threshold, exempt from the minimums.
- Other amounts are rounded toward zero to the amount precision; a leg below the
  market's minimum amount or notional is dropped with a reason.
- Spot: a buy never costs more than the cash at the mark: ``amount = floor_to_step(
  weight × equity / mark)`` capped at ``floor_to_step(cash / mark)``, where cash is the
  portfolio's free quote plus what the plan's spot sells bring at the mark (before
  their fee; the fill model caps a buy again at the fill, see ``aifap.core.fills``).
  No fee is added on top: a spot buy's fee comes out of the base received, so weight
  1.0 spends all the cash. Buys draw on that cash in symbol order.
- Spot full exit: the holding (which may be off the amount step after a base fee) is
  sold rounded down to the step; the dust left is reported as a dropped close leg.
  A holding below one step is dust: a target of 0 leaves it alone.
- Going from long to short (or back) is a close leg followed by an open leg.
- When only SL/TP change on a held position, a stop-update leg is emitted (no trade).
- Orders come closes and reductions first (freed margin funds the opens), then
  opens; :func:`batches` cuts them into groups of 5 for concurrent sending.
- ``None`` targets mean "no opinion": the plan is empty and positions are kept.

:func:`plan_legs` decides; :func:`plan` is it plus the deterministic client order ids
(:class:`OrderRequest`, :class:`StopUpdate`) that gateways need. The backtester calls
:func:`plan_legs` and derives the same ids from (session, cycle, symbol, leg) only when
it builds its orders frame, sparing a hash and a validated object per order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from aifap.core.errors import ConfigError
from aifap.core.fills import affordable
from aifap.core.markets import MarketSpec, to_decimal
from aifap.core.orders import OrderRequest, Side, client_order_id
from aifap.core.portfolio import Portfolio, Position
from aifap.core.weights import TargetWeight

ZERO = Decimal(0)
ONE = Decimal(1)
BUY = Side.BUY
SELL = Side.SELL
BATCH_SIZE = 5

# leg names, part of the deterministic client order id
CLOSE = "close"
REDUCE = "reduce"
OPEN = "open"
STOPS = "stops"


class Leg(NamedTuple):
    """One order the planner decided, before its client order id (see :class:`OrderRequest`).

    ``amount`` is unsigned and rounded to the market's precision; ``side`` gives the
    direction; ``leg`` is the leg name that goes into the client order id.
    """

    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    take_profit: Decimal | None
    stop_loss: Decimal | None
    leg: str

    @property
    def signed_amount(self) -> Decimal:
        """Return the amount with the side's sign (+ buy, - sell)."""
        return self.amount if self.side is Side.BUY else -self.amount


class LegPlan(NamedTuple):
    """What :func:`plan_legs` decides: legs (closes first), stop moves, dropped legs.

    ``stops`` holds ``(symbol, take_profit, stop_loss)`` of held positions whose SL/TP
    change without a trade.
    """

    legs: tuple[Leg, ...]
    stops: tuple[tuple[str, Decimal | None, Decimal | None], ...]
    dropped: tuple[DroppedLeg, ...]
    equity: Decimal
    current_weights: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class StopUpdate:
    """New SL/TP for a held position whose size does not change (None removes a stop)."""

    client_id: str
    symbol: str
    take_profit: Decimal | None
    stop_loss: Decimal | None


@dataclass(frozen=True, slots=True)
class DroppedLeg:
    """A leg the planner did not emit, and why (``amount`` signed, after rounding)."""

    symbol: str
    leg: str
    amount: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What one rebalancing cycle does: orders (closes first), stop updates, dropped legs."""

    orders: tuple[OrderRequest, ...] = ()
    stop_updates: tuple[StopUpdate, ...] = ()
    dropped: tuple[DroppedLeg, ...] = ()
    equity: Decimal = ZERO
    current_weights: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """Tell whether the plan neither trades nor moves a stop."""
        return not self.orders and not self.stop_updates

    def batches(self, size: int = BATCH_SIZE) -> list[tuple[OrderRequest, ...]]:
        """Return the orders in consecutive batches of at most ``size``."""
        return batches(self.orders, size)


def batches(
    orders: Sequence[OrderRequest], size: int = BATCH_SIZE
) -> list[tuple[OrderRequest, ...]]:
    """Cut ``orders`` into consecutive batches of at most ``size``, keeping their order."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, was {size}")
    return [tuple(orders[i : i + size]) for i in range(0, len(orders), size)]


def _margin(position: Position, mark: Decimal) -> Decimal:
    return abs(position.size) * position.contract_size * mark / position.leverage


def _check_leverage(leverage: Decimal, market: MarketSpec) -> None:
    if not market.is_futures and leverage != 1:
        raise ConfigError(f"{market.symbol}: leverage must be 1 on spot, was {leverage}")
    if leverage < 1 or leverage > market.max_leverage:
        raise ConfigError(
            f"{market.symbol}: leverage must be between 1 and {market.max_leverage}, was {leverage}"
        )


class _Builder:
    """Collect the legs of one plan (client order ids come later, in :func:`plan`)."""

    def __init__(self) -> None:
        self.reducing: list[Leg] = []
        self.opening: list[Leg] = []
        self.stops: list[tuple[str, Decimal | None, Decimal | None]] = []
        self.dropped: list[DroppedLeg] = []

    def order(
        self, symbol: str, leg: str, signed: Decimal, target: TargetWeight | None, *, reduce: bool
    ) -> None:
        keep = target is not None and leg != CLOSE
        request = Leg(  # positional: this runs per order
            symbol,
            Side.BUY if signed > ZERO else Side.SELL,
            abs(signed),
            reduce,
            target.take_profit if keep else None,  # type: ignore[union-attr]
            target.stop_loss if keep else None,  # type: ignore[union-attr]
            leg,
        )
        (self.reducing if reduce else self.opening).append(request)

    def stop_update(self, symbol: str, target: TargetWeight) -> None:
        self.stops.append((symbol, target.take_profit, target.stop_loss))

    def drop(self, symbol: str, leg: str, amount: Decimal, reason: str) -> None:
        self.dropped.append(DroppedLeg(symbol, leg, amount, reason))


def _rounded_stops(target: TargetWeight, market: MarketSpec) -> TargetWeight:
    tp, sl = target.take_profit, target.stop_loss
    if tp is None and sl is None:
        return target
    return TargetWeight(
        target.symbol,
        target.weight,
        take_profit=None if tp is None else market.round_price(tp),
        stop_loss=None if sl is None else market.round_price(sl),
    )


def _stops_changed(target: TargetWeight, position: Position | None) -> bool:
    """Tell whether a held position's SL/TP differ from the target's."""
    if position is None or position.size == 0:
        return False
    return (target.take_profit, target.stop_loss) != (position.take_profit, position.stop_loss)


def _close(out: _Builder, symbol: str, size: Decimal, market: MarketSpec) -> None:
    """Close ``size``; on spot sell it rounded down to the step and report the dust left."""
    if market.is_futures:
        out.order(symbol, CLOSE, -size, None, reduce=True)
        return
    sold = market.round_amount(size)
    if sold == 0:  # dust, reported when the close that left it was planned
        return
    out.order(symbol, CLOSE, -sold, None, reduce=True)
    if sold != size:
        out.drop(
            symbol,
            CLOSE,
            sold - size,
            f"dust: {size - sold} below the amount step {market.amount_step} stays held",
        )


def _cap_spot_buys(
    out: _Builder,
    markets: Mapping[str, MarketSpec],
    marks: Mapping[str, Decimal],
    cash: Decimal,
) -> None:
    """Cap spot buys at the cash (plus the plan's spot sells at the mark), in symbol order."""
    for order in out.reducing:
        market = markets[order.symbol]
        if not market.is_futures and order.side is Side.SELL and order.symbol in marks:
            cash += order.amount * market.contract_size * marks[order.symbol]
    opening: list[Leg] = []
    for order in out.opening:
        market = markets[order.symbol]
        if market.is_futures or order.side is not Side.BUY:
            opening.append(order)
            continue
        mark = marks[order.symbol]
        amount = order.amount
        cost = amount * market.contract_size * mark
        if not cost <= cash:  # affordable()'s first test
            amount = affordable(market, amount, mark, max(cash, ZERO))
        if amount != order.amount:
            reason = market.below_minimum(amount, mark)
            if reason is not None:
                out.drop(
                    order.symbol,
                    order.leg,
                    amount,
                    f"spot buy capped at the cash {cash}: {reason}",
                )
                continue
            order = order._replace(amount=amount)
            cost = amount * market.contract_size * mark
        cash -= cost
        opening.append(order)
    out.opening = opening


def _plan_symbol(
    out: _Builder,
    symbol: str,
    target: TargetWeight | None,
    position: Position | None,
    market: MarketSpec,
    mark: Decimal | None,
    equity: Decimal,
    current: Decimal,
    leverage: Decimal,
    threshold: Decimal,
) -> None:
    # comparisons against the Decimal ZERO, not the int 0: a planner runs them per symbol
    size = position.size if position is not None else ZERO
    goal = target.weight if target is not None else ZERO
    if goal == ZERO:
        if size != ZERO:  # full close: reduce-only, never dropped for the minimums
            _close(out, symbol, size, market)
        return
    assert target is not None  # a non-zero goal comes from a target
    if abs(goal - current) <= threshold:
        if _stops_changed(target, position):
            out.stop_update(symbol, target)
        return
    if mark is None or not mark.is_finite() or mark <= ZERO:
        out.drop(symbol, OPEN, ZERO, f"price must be a finite number > 0, was {mark}")
        return
    if equity <= ZERO:
        out.drop(symbol, OPEN, ZERO, f"equity must be > 0 to open, was {equity}")
        return
    cs = market.contract_size
    wanted = goal * equity * leverage / (mark * cs)
    if size != ZERO and (size > ZERO) != (wanted > ZERO):  # flip: close, then open
        out.order(symbol, CLOSE, -size, None, reduce=True)
        size = ZERO
    # inline, per order: _round_down and the "big enough" case of _too_small
    delta = wanted - size
    step = market.amount_step
    if step > ZERO:
        delta = (delta / step).to_integral_value(ROUND_DOWN) * step
    reduces = size != ZERO and (delta > ZERO) != (size > ZERO)
    leg = REDUCE if reduces else OPEN
    amount = abs(delta)
    if amount > ZERO and amount >= market.min_amount and amount * cs * mark >= market.min_notional:
        reason = None
    else:
        reason = market.below_minimum(delta, mark)
    if reason is not None:
        out.drop(symbol, leg, delta, reason)
        if size != ZERO and _stops_changed(target, position):
            out.stop_update(symbol, target)
        return
    out.order(symbol, leg, delta, target, reduce=reduces)


def plan_legs(
    targets: Mapping[str, TargetWeight],
    portfolio: Portfolio,
    markets: Mapping[str, MarketSpec],
    prices: Mapping[str, Decimal | float],
    *,
    leverage: Decimal | float | int = 1,
    threshold: Decimal | float = Decimal("0.01"),
) -> LegPlan:
    """Decide the legs that move ``portfolio`` to ``targets`` (:func:`plan` without ids).

    Same arguments and rules as :func:`plan` (``targets`` must not be None); the legs
    come reduce-only first, then opens, each group in symbol order.
    """
    lev = to_decimal(leverage)
    thr = to_decimal(threshold)
    positions = portfolio.positions
    symbols: Iterable[str] = sorted(set(targets) | set(positions))
    marks: dict[str, Decimal] = {}
    for symbol in symbols:
        price = prices.get(symbol)
        if price is not None:
            value = to_decimal(price)
            if value.is_finite():
                marks[symbol] = value
    unrealized = ZERO
    for symbol, position in positions.items():
        mark = marks.get(symbol, position.mark_price)
        unrealized += position.size * position.contract_size * (mark - position.entry_price)
    equity = portfolio.balance + unrealized
    out = _Builder()
    weights: dict[str, Decimal] = {}
    check = lev != ONE  # leverage 1 is within every market's limits (max_leverage >= 1)
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            raise ConfigError(f"{symbol}: symbol must have a market spec")
        target = targets.get(symbol)
        if target is not None and target.weight != ZERO:
            if check:
                _check_leverage(lev, market)
            if target.take_profit is not None or target.stop_loss is not None:
                target = _rounded_stops(target, market)
        held = positions.get(symbol)
        price = marks.get(symbol)
        current = ZERO
        if held is not None and held.size != ZERO and equity > ZERO:
            margin = _margin(held, price if price is not None else held.mark_price)
            current = margin / equity if held.size > ZERO else -margin / equity
            weights[symbol] = current
        _plan_symbol(out, symbol, target, held, market, price, equity, current, lev, thr)
    if portfolio.cash is not None:
        _cap_spot_buys(out, markets, marks, portfolio.cash)
    return LegPlan(
        (*out.reducing, *out.opening), tuple(out.stops), tuple(out.dropped), equity, weights
    )


def order_request(leg: Leg, session_id: str, cycle: int) -> OrderRequest:
    """Return ``leg`` as the order gateways send, with its deterministic client order id."""
    return OrderRequest(
        client_order_id(session_id, cycle, leg.symbol, leg.leg),
        leg.symbol,
        leg.side,
        leg.amount,
        leg.reduce_only,
        leg.take_profit,
        leg.stop_loss,
        None,
        leg.leg,
    )


def plan(
    targets: Mapping[str, TargetWeight] | None,
    portfolio: Portfolio,
    markets: Mapping[str, MarketSpec],
    prices: Mapping[str, Decimal | float],
    *,
    leverage: Decimal | float | int = 1,
    threshold: Decimal | float = Decimal("0.01"),
    session_id: str = "backtest",
    cycle: int = 0,
) -> Plan:
    """Return the orders that move ``portfolio`` to ``targets``.

    Args:
        targets: parsed strategy output (``weights.parse_targets``); None keeps
            every position (empty plan); held symbols missing from it are closed.
        portfolio: the account now (wallet balance and positions).
        markets: market specs by symbol; every target and held symbol needs one.
        prices: mark prices by symbol, used for weights, sizes and minimums.
        leverage: the leverage new exposure is sized with (notional = weight ×
            equity × leverage); must be within each market's maximum (1 on spot).
        threshold: trade a symbol only where ``|target − current weight| > threshold``.
        session_id: part of every client order id.
        cycle: rebalancing cycle number, part of every client order id.

    Returns:
        A :class:`Plan` with reduce-only legs first, then opens (each group in
        symbol order), the stop updates and the dropped legs with their reasons.

    Raises:
        ConfigError: a symbol has no market spec or the leverage breaks a market's limit.
    """
    if targets is None:
        return Plan()
    legs = plan_legs(targets, portfolio, markets, prices, leverage=leverage, threshold=threshold)
    return Plan(
        orders=tuple(order_request(leg, session_id, cycle) for leg in legs.legs),
        stop_updates=tuple(
            StopUpdate(client_order_id(session_id, cycle, symbol, STOPS), symbol, tp, sl)
            for symbol, tp, sl in legs.stops
        ),
        dropped=legs.dropped,
        equity=legs.equity,
        current_weights=legs.current_weights,
    )
