"""The core planner as of commit fe1327a, frozen: the oracle of test_fast_path_properties.py.

Kept verbatim (but for this docstring) so the rewritten planner is checked against the code
it replaced. Do not edit; delete it with the test when the oracle is no longer wanted.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from aifap.core.errors import ConfigError
from aifap.core.fills import affordable
from aifap.core.markets import MarketSpec, to_decimal
from aifap.core.orders import OrderRequest, Side, client_order_id
from aifap.core.portfolio import Portfolio, Position
from aifap.core.weights import TargetWeight

ZERO = Decimal(0)
BATCH_SIZE = 5

# leg names, part of the deterministic client order id
CLOSE = "close"
REDUCE = "reduce"
OPEN = "open"
STOPS = "stops"


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
    """Collect the legs of one plan; ids come from (session, cycle, symbol, leg)."""

    def __init__(self, session_id: str, cycle: int) -> None:
        self.session_id = session_id
        self.cycle = cycle
        self.reducing: list[OrderRequest] = []
        self.opening: list[OrderRequest] = []
        self.stops: list[StopUpdate] = []
        self.dropped: list[DroppedLeg] = []

    def order(
        self, symbol: str, leg: str, signed: Decimal, target: TargetWeight | None, *, reduce: bool
    ) -> None:
        request = OrderRequest(
            client_id=client_order_id(self.session_id, self.cycle, symbol, leg),
            symbol=symbol,
            side=Side.BUY if signed > 0 else Side.SELL,
            amount=abs(signed),
            reduce_only=reduce,
            take_profit=None if target is None or leg == CLOSE else target.take_profit,
            stop_loss=None if target is None or leg == CLOSE else target.stop_loss,
            leg=leg,
        )
        (self.reducing if reduce else self.opening).append(request)

    def stop_update(self, symbol: str, target: TargetWeight) -> None:
        self.stops.append(
            StopUpdate(
                client_order_id(self.session_id, self.cycle, symbol, STOPS),
                symbol,
                target.take_profit,
                target.stop_loss,
            )
        )

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
    opening: list[OrderRequest] = []
    for order in out.opening:
        market = markets[order.symbol]
        if market.is_futures or order.side is not Side.BUY:
            opening.append(order)
            continue
        mark = marks[order.symbol]
        amount = affordable(market, order.amount, mark, max(cash, ZERO))
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
            order = replace(order, amount=amount)
        cash -= amount * market.contract_size * mark
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
    size = position.size if position is not None else ZERO
    goal = target.weight if target is not None else ZERO
    if goal == 0:
        if size != 0:  # full close: reduce-only, never dropped for the minimums
            _close(out, symbol, size, market)
        return
    assert target is not None  # a non-zero goal comes from a target
    if abs(goal - current) <= threshold:
        if _stops_changed(target, position):
            out.stop_update(symbol, target)
        return
    if mark is None or not mark.is_finite() or mark <= 0:
        out.drop(symbol, OPEN, ZERO, f"price must be a finite number > 0, was {mark}")
        return
    if equity <= 0:
        out.drop(symbol, OPEN, ZERO, f"equity must be > 0 to open, was {equity}")
        return
    wanted = goal * equity * leverage / (mark * market.contract_size)
    if size != 0 and (size > 0) != (wanted > 0):  # flip: close, then open the other side
        out.order(symbol, CLOSE, -size, None, reduce=True)
        size = ZERO
    delta = market.round_amount(wanted - size)
    reduces = size != 0 and (delta > 0) != (size > 0)
    leg = REDUCE if reduces else OPEN
    reason = market.below_minimum(delta, mark)
    if reason is not None:
        out.drop(symbol, leg, delta, reason)
        if size != 0 and _stops_changed(target, position):
            out.stop_update(symbol, target)
        return
    out.order(symbol, leg, delta, target, reduce=reduces)


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
    out = _Builder(session_id, cycle)
    weights: dict[str, Decimal] = {}
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            raise ConfigError(f"{symbol}: symbol must have a market spec")
        target = targets.get(symbol)
        if target is not None and target.weight != 0:
            _check_leverage(lev, market)
            target = _rounded_stops(target, market)
        held = positions.get(symbol)
        price = marks.get(symbol)
        current = ZERO
        if held is not None and held.size != 0 and equity > 0:
            margin = _margin(held, price if price is not None else held.mark_price)
            current = margin / equity if held.size > 0 else -margin / equity
            weights[symbol] = current
        _plan_symbol(out, symbol, target, held, market, price, equity, current, lev, thr)
    if portfolio.cash is not None:
        _cap_spot_buys(out, markets, marks, portfolio.cash)
    return Plan(
        orders=(*out.reducing, *out.opening),
        stop_updates=tuple(out.stops),
        dropped=tuple(out.dropped),
        equity=equity,
        current_weights=weights,
    )
