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
- **Spot is charged as the venues charge it** (Bitget, Binance and Bybit spot): a
  spot buy of amount ``A`` at the executed price ``P`` pays exactly ``A × P`` of
  quote and its fee comes out of the received base coin, so the holding grows by
  ``A × (1 − f)`` (``fee = f × A`` in the base, ``fee_currency`` = the base,
  ``fee_quote = fee × P`` its value); a spot sell receives ``A × P × (1 − f)`` of
  quote (the fee ``f × A × P`` in the quote). So weight 1.0 on spot spends all the
  cash and a buy-and-hold is worth ``capital × (1 − f) × last / P`` exactly, but for
  the cash the amount step leaves unspent, ``r = capital − A × P`` (``0 <= r < step ×
  P``), which stays cash: equity = ``capital × (1 − f) × last / P + r × (1 − (1 − f)
  × last / P)``.
  The base fee is the fee model's quote fee divided by ``P``, exactly ``f × A`` for
  :class:`NotionalFee` (Decimal products within 28 digits), and is **not rounded**
  (venues keep fee coins at a finer precision than the amount step; the Bitget
  emulator rounds them to 1e-8), so a holding may fall off the amount step: the
  planner sizes sells from the held amount and a full exit sells the holding rounded
  down to the step, leaving the dust (reported, never a negative balance).
- A spot buy never spends more than the free ``cash`` (when given): an amount that
  does not fit at the executed price shrinks to ``cash / P`` rounded down to the
  amount step (a venue sizing market buys in quote spends the reserved quote), and
  :class:`InsufficientFundsError` is raised when not one step fits.
- Futures funding settles ``rate × notional`` at the funding time (notional =
  ``size × contract size × mark``, signed): longs pay a positive rate, shorts receive it.

:func:`first_stop_hits` is the vectorized form of :func:`stop_trigger` the backtester
runs across the bars of a segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Protocol, runtime_checkable

import numpy as np

from aifap.core.errors import InsufficientFundsError
from aifap.core.markets import MarketSpec, round_to_step, to_decimal
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


def affordable(market: MarketSpec, amount: Decimal, price: Decimal, cash: Decimal) -> Decimal:
    """Return ``amount`` shrunk to what ``cash`` buys at ``price`` (rounded down to the step).

    ``amount`` itself when ``amount × price <= cash``; never an amount costing more
    than ``cash`` (0 when not one step fits). The shrunk amount is computed with as
    many digits as it needs: at the default 28, a cash of about 1e23 at a step of
    1e-5 made ``fits − step`` round back to ``fits`` (an endless loop).
    """
    if amount * market.contract_size * price <= cash:
        return amount
    if cash <= 0:
        return Decimal(0)
    step = market.amount_step
    unit_digits = len(market.contract_size.as_tuple().digits) + len(price.as_tuple().digits)
    whole = max((cash / (market.contract_size * price)).adjusted() + 1, 1)
    fraction = len(step.as_tuple().digits) - step.adjusted() if step > 0 else 0
    with localcontext() as ctx:  # exact: ``fits − step`` and ``fits × price`` never round
        ctx.prec = max(ctx.prec, whole + fraction + unit_digits + 2)
        unit = market.contract_size * price
        fits = round_to_step(cash / unit, step)
        while fits > 0 and fits * unit > cash:  # a quotient rounded up
            fits -= step if step > 0 else fits
    return max(fits, Decimal(0))


def unaffordable(
    symbol: str, amount: Decimal, executed: Decimal, cash: Decimal
) -> InsufficientFundsError:
    """Return the error of a spot buy of ``amount`` at ``executed`` not one step of which fits."""
    return InsufficientFundsError(
        f"{symbol}: spot buy cost must be <= the free cash {cash}, was {amount * executed}"
    )


@dataclass(frozen=True, slots=True)
class FillModel:
    """Turn orders and triggered stops into fills; shared by the backtester and paper.

    See the module docstring for the spot rules (buy fees in the base coin, the cash cap).
    """

    fees: FeeModel = NotionalFee()
    slippage: SlippageModel = BpsSlippage()

    def market_fill(
        self,
        order: OrderRequest,
        market: MarketSpec,
        price: Decimal,
        timestamp: datetime,
        *,
        cash: Decimal | None = None,
    ) -> Fill:
        """Fill a market ``order`` at reference ``price`` (the next bar's open).

        ``cash``: the free quote a spot buy may spend (None: no limit).

        Raises:
            InsufficientFundsError: a spot buy of which not one amount step fits ``cash``.
        """
        executed = self.slippage.fill_price(market, order.side, order.amount, price)
        amount = order.amount
        if cash is not None and order.side is Side.BUY and not market.is_futures:
            amount = affordable(market, amount, executed, cash)
            if amount <= 0:
                raise unaffordable(order.symbol, order.amount, executed, cash)
        return self._fill(
            market,
            order.symbol,
            order.side,
            amount,
            executed,
            timestamp,
            order.client_id,
            FillReason.REBALANCE,
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
        return self._fill(
            market, position.symbol, side, amount, executed, timestamp, client_id, reason
        )

    def fee_of(
        self, market: MarketSpec, side: Side, amount: Decimal, executed: Decimal
    ) -> tuple[Decimal, Decimal | None]:
        """Return the fee of a fill at ``executed``: (fee, its quote value or None).

        The quote value is set (not None) when the fee is charged in the base coin
        (a spot buy); the fee is then ``quote fee / (contract size × executed)``.
        """
        fee = self.fees.fee(market, side, amount, executed)
        if side is Side.BUY and not market.is_futures:  # charged in the received base coin
            base_fee = fee / (market.contract_size * executed)
            return base_fee, base_fee * market.contract_size * executed
        return fee, None

    def _fill(
        self,
        market: MarketSpec,
        symbol: str,
        side: Side,
        amount: Decimal,
        executed: Decimal,
        timestamp: datetime,
        client_id: str | None,
        reason: FillReason,
    ) -> Fill:
        fee, fee_quote = self.fee_of(market, side, amount, executed)
        return Fill(
            symbol=symbol,
            side=side,
            amount=amount,
            price=executed,
            fee=fee,
            timestamp=timestamp,
            client_id=client_id,
            fee_currency=market.quote if fee_quote is None else market.base,
            reason=reason,
            fee_quote=fee_quote,
        )
