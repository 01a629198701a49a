"""Fill a plan's orders and book them: the backtester's per-order path, without Fills.

:func:`execute_orders` does for each leg of :func:`aifap.core.planner.plan_legs` (or
order of :func:`~aifap.core.planner.plan`) what the paper gateway does with
:meth:`FillModel.market_fill` and :meth:`Ledger.apply`, with the same Decimal operations
in the same order, but without building an :class:`OrderRequest` and two :class:`Fill`
objects per order. ``tests/unit/backtest/test_fast_path_properties.py``
checks on random markets, weights and prices that both give the same fills, drops and
ledgers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, TypeAlias

from aifap.core.errors import InsufficientFundsError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee, affordable, unaffordable
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import OrderRequest, Side
from aifap.core.planner import DroppedLeg, Leg

ZERO = Decimal(0)
BUY = Side.BUY
SPOT = MarketType.SPOT


# what filling needs of an order: the planner's decision (the backtester's own path) or
# the order gateways get, which also carries its client order id
Ordered: TypeAlias = Leg | OrderRequest


class Booked(NamedTuple):
    """One order as filled and booked (``fee_quote`` set when the fee is in the base coin)."""

    order: Ordered
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_quote: Decimal | None
    realized_pnl: Decimal

    @property
    def fee_value(self) -> Decimal:
        """Return the fee's value in the quote currency."""
        return self.fee if self.fee_quote is None else self.fee_quote


def execute_orders(
    orders: Sequence[Ordered],
    ledger: Ledger,
    model: FillModel,
    markets: Mapping[str, MarketSpec],
    prices: Mapping[str, Decimal],
) -> tuple[list[Booked], list[DroppedLeg]]:
    """Fill ``orders`` in turn at ``prices`` (reference prices: the next open) and book them.

    Spot buys are capped at the ledger's cash at the executed price, as
    ``FillModel.market_fill(..., cash=ledger.cash)``; a buy of which not one amount
    step fits is dropped with the fill model's own reason.

    With the core :class:`NotionalFee` and :class:`BpsSlippage` (what the backtester
    builds) their formulas run inline, as the same Decimal operations in the same order
    (``rate × |A| × cs × P``; the price unmoved at 0 bps); the cash cap calls
    :func:`affordable` only when the amount does not fit as it is.
    """
    booked: list[Booked] = []
    dropped: list[DroppedLeg] = []
    slippage, fees = model.slippage, model.fees
    still = type(slippage) is BpsSlippage and slippage.bps == ZERO
    rate = fees.rate if type(fees) is NotionalFee else None
    book = ledger.book
    for order in orders:
        symbol, side, amount = order.symbol, order.side, order.amount
        market = markets[symbol]
        price = prices[symbol]
        executed = price if still else slippage.fill_price(market, side, amount, price)
        cs = market.contract_size
        spot = market.market_type is SPOT
        if side is BUY and spot and not amount * cs * executed <= ledger.cash:
            amount = affordable(market, amount, executed, ledger.cash)
            if amount <= ZERO:  # worded as FillModel.market_fill words it
                reason = unaffordable(symbol, order.amount, executed, ledger.cash)
                dropped.append(DroppedLeg(symbol, order.leg, order.signed_amount, str(reason)))
                continue
        if rate is None:
            fee, fee_quote = model.fee_of(market, side, amount, executed)
        elif side is BUY and spot:  # FillModel.fee_of: charged in the received base coin
            fee = rate * abs(amount) * cs * executed / (cs * executed)
            fee_quote = fee * cs * executed
        else:
            fee, fee_quote = rate * abs(amount) * cs * executed, None
        realized = book(
            symbol,
            side,
            amount,
            executed,
            fee,
            market.quote if fee_quote is None else market.base,
            fee_quote,
            order.take_profit,
            order.stop_loss,
        )
        booked.append(Booked(order, amount, executed, fee, fee_quote, realized))
    return booked, dropped


def execute_through_fills(
    orders: Sequence[OrderRequest],
    ledger: Ledger,
    model: FillModel,
    markets: Mapping[str, MarketSpec],
    prices: Mapping[str, Decimal],
    when: datetime,
) -> tuple[list[Booked], list[DroppedLeg]]:
    """Do what :func:`execute_orders` does through ``model.market_fill`` and ``ledger.apply``.

    The path for fill models other than :class:`FillModel` itself (a subclass or
    another object with a ``market_fill``), whose fills only their own code knows.
    """
    booked: list[Booked] = []
    dropped: list[DroppedLeg] = []
    for order in orders:
        market = markets[order.symbol]
        price = prices[order.symbol]
        try:
            fill = (
                model.market_fill(order, market, price, when)
                if market.is_futures
                else model.market_fill(order, market, price, when, cash=ledger.cash)
            )
        except InsufficientFundsError as exc:  # a spot buy the cash no longer covers
            dropped.append(DroppedLeg(order.symbol, order.leg, order.signed_amount, str(exc)))
            continue
        done = ledger.apply(fill, take_profit=order.take_profit, stop_loss=order.stop_loss)
        realized = done.realized_pnl if done.realized_pnl is not None else ZERO
        booked.append(Booked(order, done.amount, done.price, done.fee, done.fee_quote, realized))
    return booked, dropped
