"""The core ledger as of commit fe1327a, frozen: the oracle of test_fast_path_properties.py.

Kept verbatim (but for this docstring); do not edit.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from aifap.core.errors import ConfigError, OrderRejectedError
from aifap.core.fills import funding_payment
from aifap.core.markets import MarketSpec, to_decimal
from aifap.core.orders import Fill
from aifap.core.portfolio import Portfolio, Position

ZERO = Decimal(0)


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
            self.positions[symbol] = Position(
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
        market = self.markets.get(fill.symbol)
        if market is None:
            raise ConfigError(f"{fill.symbol}: symbol must have a market spec")
        cs = market.contract_size
        base_fee = not market.is_futures and fill.fee_currency == market.base and fill.fee != 0
        signed = fill.signed_amount - fill.fee if base_fee else fill.signed_amount
        old = self.positions.get(fill.symbol)
        size = old.size if old is not None else ZERO
        new_size = size + signed
        if not market.is_futures and new_size < 0:
            raise OrderRejectedError(
                f"{fill.symbol}: spot sell amount must be <= the holding {size}, was {fill.amount}"
            )
        realized = ZERO
        entry = fill.price
        if old is not None and size != 0 and (signed > 0) != (size > 0):
            closed = min(abs(signed), abs(size))
            realized = (closed if size > 0 else -closed) * cs * (fill.price - old.entry_price)
            if new_size != 0 and (new_size > 0) == (size > 0):
                entry = old.entry_price  # a partial reduction keeps the entry price
        elif old is not None and size != 0:
            entry = (old.entry_price * size + fill.price * signed) / new_size
        self.realized_pnl += realized
        if base_fee:  # valued at the fill price, so both books move alike
            self.fees += fill.fee * cs * fill.price
            self.cash -= fill.signed_amount * cs * fill.price
        else:
            self.fees += fill.fee_value
            self.cash -= signed * cs * fill.price + fill.fee_value
        if new_size == 0:
            self.positions.pop(fill.symbol, None)
        else:
            same_side = old is not None and size != 0 and (new_size > 0) == (size > 0)
            funding = old.funding_fee if old is not None and same_side else ZERO
            self.positions[fill.symbol] = Position(
                symbol=fill.symbol,
                size=new_size,
                entry_price=entry,
                mark_price=fill.price,
                leverage=self.leverage if market.is_futures else Decimal(1),
                contract_size=cs,
                take_profit=take_profit,
                stop_loss=stop_loss,
                funding_fee=funding,
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
