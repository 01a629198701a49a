"""Fill planned legs and book them: the backtester's per-order path, without objects.

:func:`execute_legs` does for each leg of :func:`aifap.core.planner.plan_legs` what
the paper gateway does with :meth:`FillModel.market_fill` and :meth:`Ledger.apply`,
with the same Decimal operations in the same order, but without building an
``OrderRequest`` and two ``Fill`` objects per order. ``tests/unit/backtest/
test_fast_path_properties.py`` checks on random markets, weights and prices that both
give the same fills, drops and ledgers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from aifap.core.errors import InsufficientFundsError
from aifap.core.fills import FillModel, affordable
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec
from aifap.core.orders import OrderRequest, Side, client_order_id
from aifap.core.planner import DroppedLeg, Leg

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a raised InsufficientFundsError names no time


class Booked(NamedTuple):
    """One leg as filled and booked (``fee_quote`` set when the fee is in the base coin)."""

    leg: Leg
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_quote: Decimal | None
    realized_pnl: Decimal

    @property
    def fee_value(self) -> Decimal:
        """Return the fee's value in the quote currency."""
        return self.fee if self.fee_quote is None else self.fee_quote


def leg_order(leg: Leg, session_id: str, cycle: int) -> OrderRequest:
    """Return ``leg`` as the :class:`OrderRequest` :func:`aifap.core.planner.plan` makes."""
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


def execute_legs(
    legs: list[Leg],
    ledger: Ledger,
    model: FillModel,
    markets: Mapping[str, MarketSpec],
    prices: Mapping[str, Decimal],
) -> tuple[list[Booked], list[DroppedLeg]]:
    """Fill ``legs`` in order at ``prices`` (reference prices: the next open) and book them.

    Spot buys are capped at the ledger's cash at the executed price, as
    ``FillModel.market_fill(..., cash=ledger.cash)``; a buy of which not one amount
    step fits is dropped with the fill model's own reason.
    """
    booked: list[Booked] = []
    dropped: list[DroppedLeg] = []
    slippage = model.slippage
    for leg in legs:
        symbol, side, amount = leg.symbol, leg.side, leg.amount
        market = markets[symbol]
        price = prices[symbol]
        executed = slippage.fill_price(market, side, amount, price)
        if side is Side.BUY and not market.is_futures:
            amount = affordable(market, amount, executed, ledger.cash)
            if amount <= ZERO:  # the reference path words the reason
                order = leg_order(leg, "reason", 0)
                try:
                    model.market_fill(order, market, price, EPOCH, cash=ledger.cash)
                except InsufficientFundsError as exc:
                    dropped.append(DroppedLeg(symbol, leg.leg, order.signed_amount, str(exc)))
                    continue
                raise AssertionError(f"{symbol}: a spot buy that fits no amount step filled")
        fee, fee_quote = model.fee_of(market, side, amount, executed)
        realized = ledger.book(
            symbol,
            side,
            amount,
            executed,
            fee,
            market.quote if fee_quote is None else market.base,
            fee_quote,
            take_profit=leg.take_profit,
            stop_loss=leg.stop_loss,
        )
        booked.append(Booked(leg, amount, executed, fee, fee_quote, realized))
    return booked, dropped
