"""The ``Gateway`` protocol: the only way anything in AIFAP touches an exchange account.

Every venue (ccxt's Bitget, Binance, Bybit; the paper gateway) implements it with
compact symbols (``BTCUSDT``), Decimal amounts rounded to the market's precision and
deterministic client order ids. Errors are AIFAP's (``aifap.core.errors``):
``TransientGatewayError`` is retried by ``aifap.retry``; rejections are not;
an exhausted budget raises ``RetryExhaustedError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

import pandas as pd

from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, Order, OrderRequest
from aifap.core.planner import BATCH_SIZE as BATCH_SIZE  # re-exported: the seed's 5 in flight
from aifap.core.portfolio import Position


@dataclass(frozen=True, slots=True)
class Balance:
    """Wallet balance in the quote currency, without unrealized PnL.

    ``wallet`` is what PV builds on (PV = wallet + uPnL); ``free`` is what new orders
    may use; ``equity`` is the exchange's own figure, kept only for reconciliation.
    """

    currency: str
    wallet: Decimal
    free: Decimal
    equity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """A funding settlement on a futures position: ``amount`` > 0 paid, < 0 received."""

    symbol: str
    amount: Decimal
    rate: Decimal | None
    timestamp: datetime
    payment_id: str | None = None


@runtime_checkable
class StreamsBatches(Protocol):
    """A gateway that takes a cycle's order batches at once (the service's client, ccxt's).

    It places them one after the other and calls ``acknowledged(i, orders)`` as batch
    ``i`` is answered; a batch refused whole raises, the ones after it not placed.
    """

    def place_batches(
        self,
        batches: Sequence[Sequence[OrderRequest]],
        acknowledged: Callable[[int, list[Order]], None],
    ) -> None:
        """Place ``batches`` in order; report each batch's orders as they are acknowledged."""
        ...


@runtime_checkable
class Gateway(Protocol):
    """One trading account on one venue and market type."""

    name: str
    market_type: MarketType

    def markets(self) -> dict[str, MarketSpec]:
        """Return the tradable markets by compact symbol."""
        ...

    def balance(self) -> Balance:
        """Return the wallet balance in the quote currency."""
        ...

    def positions(self) -> list[Position]:
        """Return open positions (spot: every holding, dust included) marked at its price.

        Spot dust (a holding below the amount step, which a full exit leaves) is worth
        something and counts in the equity; the planner leaves it alone.
        """
        ...

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return open orders, for one symbol or all."""
        ...

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id``, or None if the exchange never saw it."""
        ...

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        """Send up to ``BATCH_SIZE`` orders concurrently; return them in request order.

        An order the exchange rejects comes back with status ``REJECTED`` and a
        ``reason``; transient failures are retried after looking the client id up, so
        an order is never placed twice.
        """
        ...

    def cancel(
        self, symbol: str, *, client_id: str | None = None, order_id: str | None = None
    ) -> None:
        """Cancel one order by client id or exchange id."""
        ...

    def set_stops(
        self, symbol: str, *, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Set or replace the SL/TP covering the whole position in ``symbol``."""
        ...

    def fills(self, since: datetime, symbols: Sequence[str] | None = None) -> list[Fill]:
        """Return executions at or after ``since``, oldest first."""
        ...

    def funding(
        self, since: datetime, symbols: Sequence[str] | None = None
    ) -> list[FundingPayment]:
        """Return funding settlements at or after ``since``, oldest first."""
        ...

    def ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return completed bars in the ``aifap.core.bars`` frame format."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def account_wallet(account: Balance, positions: Iterable[Position], market: MarketType) -> Decimal:
    """Return the wallet the trader's balance builds on (equity = wallet + uPnL).

    Futures: the gateway's wallet balance. Spot: the free quote plus the cost basis
    of the session's holdings (``positions``), so the equity is the free quote plus
    the holdings at the mark. Gateways disagree on a spot wallet (the paper ledger's
    includes the holdings' cost basis, a venue's USDT balance does not, and a venue
    reports no entry price, so its holdings come marked with entry = mark); the free
    quote and the holdings are what every gateway reports alike. Quote locked in open
    orders is left out (a session trades market orders only).
    """
    if market is not MarketType.SPOT:
        return account.wallet
    basis = sum((p.size * p.contract_size * p.entry_price for p in positions), Decimal(0))
    return account.free + basis
