"""The fill model: fees, slippage, market fills, SL/TP triggers and funding.

The backtester and the paper gateway inject the same :class:`FillModel` (built from
a :class:`FeeModel` and a :class:`SlippageModel`), so both fill alike:

- A market order fills at the **next bar's open**, moved against the trader by the
  slippage model; the fee is ``rate × notional`` of the fill.
- A stop-loss or take-profit is checked **intrabar** against the bar's high and low.
  When the bar opens beyond a trigger (a gap), the stop fills at the open. When a
  bar touches both the stop-loss and the take-profit, the stop-loss is assumed to
  have come first (the pessimistic reading). A triggered stop is a market order, so
  slippage applies to it too.
- Futures funding settles ``rate × notional`` at the funding time (notional =
  ``size × contract size × mark``, signed): longs pay a positive rate, shorts receive it.

:func:`first_stop_hits` is the vectorized form of :func:`stop_trigger` the backtester
runs across the bars of a segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np

from aifap.core.markets import MarketSpec, to_decimal
from aifap.core.orders import Fill, FillReason, OrderRequest, Side
from aifap.core.portfolio import Position

BPS = Decimal(10_000)


@runtime_checkable
class FeeModel(Protocol):
    """Return the fee (quote currency, positive = paid) of one execution."""

    def fee(self, market: MarketSpec, side: Side, amount: Decimal, price: Decimal) -> Decimal:
        """Return the fee of filling ``amount`` contracts of ``market`` at ``price``."""
        ...


@runtime_checkable
class SlippageModel(Protocol):
    """Move a reference price against the trader."""

    def fill_price(
        self, market: MarketSpec, side: Side, amount: Decimal, price: Decimal
    ) -> Decimal:
        """Return the execution price of a market order at reference ``price``."""
        ...


@dataclass(frozen=True, slots=True)
class NotionalFee:
    """A flat rate on the notional (``amount × contract size × price``); 0.0006 = 6 bps."""

    rate: Decimal = Decimal("0.0006")

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", to_decimal(self.rate))
        if not self.rate.is_finite() or self.rate < 0:
            raise ValueError(f"fee rate must be a finite number >= 0, was {self.rate}")

    def fee(self, market: MarketSpec, side: Side, amount: Decimal, price: Decimal) -> Decimal:
        """Return ``rate × notional``."""
        return self.rate * abs(amount) * market.contract_size * price


@dataclass(frozen=True, slots=True)
class BpsSlippage:
    """Adverse slippage in basis points: buys pay ``price × (1 + bps/1e4)``, sells get less."""

    bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bps", to_decimal(self.bps))
        if not self.bps.is_finite() or self.bps < 0:
            raise ValueError(f"slippage must be a finite number of bps >= 0, was {self.bps}")

    def fill_price(
        self, market: MarketSpec, side: Side, amount: Decimal, price: Decimal
    ) -> Decimal:
        """Return ``price`` moved by ``bps`` against ``side``."""
        if self.bps == 0:
            return price
        return price * (1 + side.sign * self.bps / BPS)


def stop_trigger(
    size: Decimal | float,
    stop_loss: Decimal | float | None,
    take_profit: Decimal | float | None,
    open_: Decimal | float,
    high: Decimal | float,
    low: Decimal | float,
) -> tuple[FillReason, Decimal | float] | None:
    """Return which stop a bar triggers for a position of signed ``size``, and its price.

    Order of checks: a gap through the stop-loss fills at the open; a gap through the
    take-profit fills at the open; then a stop-loss touched by the range fills at the
    stop-loss (first, even if the take-profit was touched too); then a take-profit
    touched fills at the take-profit. None when nothing triggers (or ``size`` is 0).
    """
    if size == 0:
        return None
    long = size > 0
    sl, tp = stop_loss, take_profit
    if sl is not None and (open_ <= sl if long else open_ >= sl):
        return FillReason.STOP_LOSS, open_
    if tp is not None and (open_ >= tp if long else open_ <= tp):
        return FillReason.TAKE_PROFIT, open_
    if sl is not None and (low <= sl if long else high >= sl):
        return FillReason.STOP_LOSS, sl
    if tp is not None and (high >= tp if long else low <= tp):
        return FillReason.TAKE_PROFIT, tp
    return None


def first_stop_hits(
    sizes: np.ndarray,
    stop_loss: np.ndarray,
    take_profit: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
) -> np.ndarray:
    """Return, per column, the first row whose range touches a stop (-1 when none).

    ``sizes``, ``stop_loss`` and ``take_profit`` have one entry per column (NaN = no
    stop); ``high`` and ``low`` are (bars × columns). The open lies inside the range,
    so gaps are caught too; call :func:`stop_trigger` on the hit bar for the price.
    """
    rows = high.shape[0]
    hits = np.full(sizes.shape[0], -1, dtype=np.int64)
    if rows == 0:
        return hits
    long = sizes > 0
    short = sizes < 0
    with np.errstate(invalid="ignore"):
        down = np.where(long, stop_loss, np.where(short, take_profit, np.nan))
        up = np.where(long, take_profit, np.where(short, stop_loss, np.nan))
        touched = (low <= down) | (high >= up)
    any_hit = touched.any(axis=0)
    if any_hit.any():
        hits[any_hit] = touched[:, any_hit].argmax(axis=0)
    return hits


def funding_payment(size: Decimal, contract_size: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """Return the funding a position pays (positive) or receives (negative).

    ``size × contract size × mark × rate``: a long pays a positive rate, a short receives it.
    """
    return size * contract_size * mark * rate


@dataclass(frozen=True, slots=True)
class FillModel:
    """Turn orders and triggered stops into fills; shared by the backtester and paper."""

    fees: FeeModel = NotionalFee()
    slippage: SlippageModel = BpsSlippage()

    def market_fill(
        self, order: OrderRequest, market: MarketSpec, price: Decimal, timestamp: datetime
    ) -> Fill:
        """Fill a market ``order`` at reference ``price`` (the next bar's open)."""
        executed = self.slippage.fill_price(market, order.side, order.amount, price)
        return Fill(
            symbol=order.symbol,
            side=order.side,
            amount=order.amount,
            price=executed,
            fee=self.fees.fee(market, order.side, order.amount, executed),
            timestamp=timestamp,
            client_id=order.client_id,
            reason=FillReason.REBALANCE,
        )

    def stop_fill(
        self,
        position: Position,
        market: MarketSpec,
        reason: FillReason,
        price: Decimal,
        timestamp: datetime,
        client_id: str | None = None,
    ) -> Fill:
        """Close ``position`` at the trigger ``price`` (a market order once triggered)."""
        side = Side.SELL if position.size > 0 else Side.BUY
        amount = abs(position.size)
        executed = self.slippage.fill_price(market, side, amount, price)
        return Fill(
            symbol=position.symbol,
            side=side,
            amount=amount,
            price=executed,
            fee=self.fees.fee(market, side, amount, executed),
            timestamp=timestamp,
            client_id=client_id,
            reason=reason,
        )
