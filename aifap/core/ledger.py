"""The ledger: apply fills and funding to an account, in Decimal.

Two books are kept independently, so each checks the other (the property tests do):

- the **wallet balance** = capital + realized PnL − fees − funding paid, and
  equity (PV) = balance + unrealized PnL;
- the **cash** = capital − Σ signed fill notional − fees − funding paid, and
  equity = cash + Σ ``size × contract size × mark`` (the marked positions).

Spot and futures use the same arithmetic (a spot holding is a long with leverage 1;
spot shorts are refused), but for where a fee is charged: a fee charged in the
market's base coin (a spot buy, see ``aifap.core.fills``) comes out of the amount
received, so the holding moves by ``signed amount − fee`` at the fill price, the
cash pays the notional only, and the fee's quote value (``Fill.fee_value``) counts
in the fees; a fee in the quote comes out of the cash. Both books stay equal:
``fee_value = fee × price`` for a base fee. ``cash`` never goes negative through
fills of the core fill model (it caps spot buys at the free cash).

A fill that crosses zero closes the position and opens the rest on the other side
at the fill price. Realized PnL of a closing amount ``q`` is ``side × (price −
entry) × q × contract size``; adding to a position moves its entry price to the
size-weighted average. Liquidations are not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from aifap.core.errors import ConfigError, OrderRejectedError
from aifap.core.fills import funding_payment
from aifap.core.markets import MarketSpec, MarketType, to_decimal
from aifap.core.orders import Fill, Side
from aifap.core.portfolio import Portfolio, Position, new_position

ZERO = Decimal(0)
ONE = Decimal(1)
MINUS_ONE = Decimal(-1)
BUY = Side.BUY
FUTURES = MarketType.FUTURES


class Ledger:
    """One trader's account: wallet balance, cash, positions, and their running totals."""

    def __init__(
        self,
        capital: Decimal | float | int,
        markets: Mapping[str, MarketSpec],
        *,
        leverage: Decimal | float | int = 1,
    ) -> None:
        """Open an account holding ``capital`` in the quote currency and no positions."""
        self.capital = to_decimal(capital)
        if not self.capital.is_finite() or self.capital <= 0:
            raise ConfigError(f"capital must be a finite number > 0, was {capital}")
        self.markets = markets
        self.leverage = to_decimal(leverage)
        self.realized_pnl = ZERO
        self.fees = ZERO
        self.funding = ZERO  # paid (+) or received (-)
        self.cash = self.capital
        self.positions: dict[str, Position] = {}

    @property
    def balance(self) -> Decimal:
        """Return the wallet balance: capital + realized PnL − fees − funding paid."""
        return self.capital + self.realized_pnl - self.fees - self.funding

    def unrealized_pnl(self, marks: Mapping[str, Decimal] | None = None) -> Decimal:
        """Return Σ size × contract size × (mark − entry), at ``marks`` where given."""
        total = ZERO
        for symbol, p in self.positions.items():
            mark = marks.get(symbol, p.mark_price) if marks else p.mark_price
            total += p.size * p.contract_size * (mark - p.entry_price)
        return total

    def equity(self, marks: Mapping[str, Decimal] | None = None) -> Decimal:
        """Return PV = balance + unrealized PnL."""
        return self.balance + self.unrealized_pnl(marks)

    def positions_value(self, marks: Mapping[str, Decimal] | None = None) -> Decimal:
        """Return Σ size × contract size × mark (signed: shorts count negative)."""
        total = ZERO
        for symbol, p in self.positions.items():
            mark = marks.get(symbol, p.mark_price) if marks else p.mark_price
            total += p.size * p.contract_size * mark
        return total

    def mark(self, marks: Mapping[str, Decimal]) -> None:
        """Set the mark price of the held positions found in ``marks``."""
        for symbol, price in marks.items():
            position = self.positions.get(symbol)
            if position is not None:
                self.positions[symbol] = replace(position, mark_price=price)

    def portfolio(self, marks: Mapping[str, Decimal] | None = None) -> Portfolio:
        """Return the account as a :class:`Portfolio`, marked at ``marks`` where given.

        Without ``marks`` the positions keep their last mark (the planner takes
        prices separately, so the backtester skips re-marking there).
        """
        if marks:
            self.mark(marks)
        return Portfolio(balance=self.balance, positions=dict(self.positions), cash=self.cash)

    def set_stops(
        self, symbol: str, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Replace the SL/TP of the position in ``symbol`` (no-op when none is held)."""
        position = self.positions.get(symbol)
        if position is not None:
            p = position
            self.positions[symbol] = new_position(
                p.symbol,
                p.size,
                p.entry_price,
                p.mark_price,
                p.leverage,
                p.contract_size,
                take_profit,
                stop_loss,
                p.funding_fee,
            )

    def apply(
        self,
        fill: Fill,
        *,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
    ) -> Fill:
        """Book ``fill`` and return it with its realized PnL.

        ``take_profit`` / ``stop_loss`` become the stops of the position left open
        (ignored when the fill closes it).

        Raises:
            ConfigError: the symbol has no market spec.
            OrderRejectedError: a spot sell larger than the holding (no spot shorts).
        """
        realized = self.book(
            fill.symbol,
            fill.side,
            fill.amount,
            fill.price,
            fill.fee,
            fill.fee_currency,
            fill.fee_quote,
            take_profit=take_profit,
            stop_loss=stop_loss,
        )
        booked = Fill(  # the constructor, not dataclasses.replace: this runs per fill
            fill.symbol,
            fill.side,
            fill.amount,
            fill.price,
            fill.fee,
            fill.timestamp,
            fill.client_id,
            fill.order_id,
            fill.trade_id,
            fill.fee_currency,
            fill.reason,
            realized,
            fill.fee_quote,
        )
        return booked

    def book(
        self,
        symbol: str,
        side: Side,
        amount: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_currency: str,
        fee_quote: Decimal | None,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
    ) -> Decimal:
        """Book one fill given by its fields (see :meth:`apply`); return its realized PnL.

        The backtester calls this directly, without building :class:`Fill` objects.

        Raises:
            ConfigError: the symbol has no market spec.
            OrderRejectedError: a spot sell larger than the holding (no spot shorts).
        """
        market = self.markets.get(symbol)
        if market is None:
            raise ConfigError(f"{symbol}: symbol must have a market spec")
        cs = market.contract_size
        futures = market.market_type is FUTURES
        base_fee = not futures and fee != ZERO and fee_currency == market.base
        signed_amount = amount * (ONE if side is BUY else MINUS_ONE)  # side.sign, as Decimal
        signed = signed_amount - fee if base_fee else signed_amount
        old = self.positions.get(symbol)
        size = old.size if old is not None else ZERO
        new_size = size + signed
        if not futures and new_size < ZERO:
            raise OrderRejectedError(
                f"{symbol}: spot sell amount must be <= the holding {size}, was {amount}"
            )
        realized = ZERO
        entry = price
        held = old is not None and size != ZERO
        long = size > ZERO
        if held and (signed > ZERO) != long:
            closed = min(abs(signed), abs(size))
            realized = (closed if long else -closed) * cs * (price - old.entry_price)  # type: ignore[union-attr]
            if new_size != ZERO and (new_size > ZERO) == long:
                entry = old.entry_price  # type: ignore[union-attr]  # a partial reduction keeps it
        elif held:
            entry = (old.entry_price * size + price * signed) / new_size  # type: ignore[union-attr]
        self.realized_pnl += realized
        if base_fee:  # valued at the fill price, so both books move alike
            self.fees += fee * cs * price
            self.cash -= signed_amount * cs * price
        else:
            fee_value = fee if fee_quote is None else fee_quote
            self.fees += fee_value
            self.cash -= signed * cs * price + fee_value
        if new_size == ZERO:
            self.positions.pop(symbol, None)
        else:
            same_side = held and (new_size > ZERO) == long
            self.positions[symbol] = new_position(
                symbol,
                new_size,
                entry,
                price,
                self.leverage if futures else ONE,
                cs,
                take_profit,
                stop_loss,
                old.funding_fee if same_side else ZERO,  # type: ignore[union-attr]
            )
        return realized

    def apply_funding(
        self, symbol: str, rate: Decimal, mark: Decimal, timestamp: datetime | None = None
    ) -> Decimal:
        """Settle one funding interval on ``symbol`` and return the amount paid (+) or received.

        Nothing happens (0 is returned) when no position is held.
        """
        position = self.positions.get(symbol)
        if position is None:
            return ZERO
        paid = funding_payment(position.size, position.contract_size, mark, rate)
        self.funding += paid
        self.cash -= paid
        self.positions[symbol] = replace(
            position, mark_price=mark, funding_fee=position.funding_fee + paid
        )
        return paid
