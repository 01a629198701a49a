"""Orders, fills and deterministic client order ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """Return +1 for buys and -1 for sells."""
        return 1 if self is Side.BUY else -1


class OrderStatus(StrEnum):
    """Lifecycle of an order as the gateway reports it."""

    PENDING = "pending"  # journaled, not yet acknowledged by the exchange
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


class FillReason(StrEnum):
    """Why a fill happened."""

    REBALANCE = "rebalance"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    LIQUIDATION = "liquidation"


def client_order_id(session_id: str, cycle: int, symbol: str, leg: str) -> str:
    """Return the deterministic client order id of one leg of one cycle.

    The same (session, cycle, symbol, leg) always gives the same id, so a retried or
    restarted request can be looked up at the exchange instead of being sent twice.
    The id is at most 36 characters of ``[A-Za-z0-9_-]`` (Bitget's and Binance's rule).
    """
    if cycle < 0:
        raise ValueError(f"cycle must be >= 0, was {cycle}")
    digest = hashlib.blake2b(
        f"{session_id}\x1f{cycle}\x1f{symbol}\x1f{leg}".encode(), digest_size=12
    ).hexdigest()
    prefix = f"af{cycle}"[:12]
    return f"{prefix}-{digest}"[:36]


def client_order_ids(
    session_id: str, cycles: Iterable[int], symbols: Iterable[str], legs: Iterable[str]
) -> Iterator[str]:
    """Yield :func:`client_order_id` of each (cycle, symbol, leg), in turn, for one session.

    The same ids, for many legs at once (a backtest's orders frame derives ~10^6): the
    hash state of the session and of each cycle is computed once and copied, and
    ``(symbol, leg)``'s part is encoded once.
    """
    session = hashlib.blake2b(f"{session_id}\x1f".encode(), digest_size=12)
    tails: dict[tuple[str, str], bytes] = {}
    last: int | None = None
    state = session
    head = ""
    cut = False  # whether head + digest exceeds 36 characters (cycles from 10^10 on)
    for cycle, symbol, leg in zip(cycles, symbols, legs, strict=True):
        if cycle != last:
            if cycle < 0:
                raise ValueError(f"cycle must be >= 0, was {cycle}")
            state = session.copy()
            state.update(f"{cycle}\x1f".encode())
            head = f"af{cycle}"[:12] + "-"
            cut = len(head) + 24 > 36
            last = cycle
        tail = tails.get((symbol, leg))
        if tail is None:
            tail = tails[symbol, leg] = f"{symbol}\x1f{leg}".encode()
        h = state.copy()
        h.update(tail)
        yield (head + h.hexdigest())[:36] if cut else head + h.hexdigest()


def check_client_id(client_id: str) -> str:
    """Return ``client_id`` if it is 1-36 characters of ``[A-Za-z0-9_-]``, else raise."""
    if not CLIENT_ID_PATTERN.match(client_id):
        raise ValueError(
            f"client order id must be 1-36 characters of [A-Za-z0-9_-], was {client_id!r}"
        )
    return client_id


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order the planner wants sent: a market order unless ``price`` is set.

    ``amount`` is unsigned and already rounded to the market's precision; ``side`` says
    the direction. ``reduce_only`` orders may only shrink a position (closes are always
    reduce-only). ``take_profit`` / ``stop_loss`` are the position's SL/TP after the fill.
    """

    client_id: str
    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool = False
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    price: Decimal | None = None
    leg: str = "open"

    def __post_init__(self) -> None:
        check_client_id(self.client_id)
        if not self.amount.is_finite() or self.amount <= 0:
            raise ValueError(f"{self.symbol}: amount must be > 0, was {self.amount}")

    @property
    def signed_amount(self) -> Decimal:
        """Return the amount with the side's sign (+ buy, - sell)."""
        return self.amount * self.side.sign


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange knows it."""

    client_id: str
    symbol: str
    side: Side
    amount: Decimal
    status: OrderStatus
    exchange_id: str | None = None
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    reduce_only: bool = False
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    created_at: datetime | None = None
    reason: str | None = None  # why the exchange rejected or canceled it


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: ``amount`` unsigned (what the order traded, in base units or contracts).

    The fee is recorded as the venue charged it: ``fee`` (positive = paid) in
    ``fee_currency``. Futures fees and spot sells' fees are charged in the quote; a
    spot buy's fee is charged in the received base coin (Bitget, Binance, Bybit), so
    the holding grows by ``amount − fee`` only. ``fee_quote`` is the fee's value in
    the quote currency when it was charged in another coin (None: ``fee`` already is
    in the quote); :attr:`fee_value` is what PnL, metrics and reports use.
    """

    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    timestamp: datetime
    client_id: str | None = None
    order_id: str | None = None
    trade_id: str | None = None
    fee_currency: str = "USDT"
    reason: FillReason = FillReason.REBALANCE
    realized_pnl: Decimal | None = field(default=None, compare=False)
    fee_quote: Decimal | None = None

    @property
    def signed_amount(self) -> Decimal:
        """Return the amount with the side's sign (+ buy, - sell)."""
        return self.amount * self.side.sign

    @property
    def fee_value(self) -> Decimal:
        """Return the fee's value in the quote currency (positive = paid)."""
        return self.fee if self.fee_quote is None else self.fee_quote

    @property
    def notional(self) -> Decimal:
        """Return amount × price (multiply by the contract size for futures value)."""
        return self.amount * self.price


def rejected_order(request: OrderRequest, reason: str) -> Order:
    """Return ``request`` as an order the exchange (or a pre-flight check) refused."""
    return Order(
        client_id=request.client_id,
        symbol=request.symbol,
        side=request.side,
        amount=request.amount,
        status=OrderStatus.REJECTED,
        reduce_only=request.reduce_only,
        take_profit=request.take_profit,
        stop_loss=request.stop_loss,
        reason=reason,
    )
