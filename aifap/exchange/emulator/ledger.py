"""The emulator's own books: accounts, positions, orders, trigger orders, fills, funding.

All money is ``Decimal``. Fees are stored as positive costs (Bitget reports them
negative). Futures settle in the account's USDT futures wallet; spot balances are
per coin. ``Account.snapshot`` returns a ``LedgerView`` that tests reconcile against:
``futures_wallet == futures_deposit + realized_pnl - futures_fees + funding``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from aifap.core.markets import MarketType

if TYPE_CHECKING:
    from aifap.exchange.emulator.pricing import Pricing

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"live", "partially_filled"})


@dataclass(slots=True)
class Order:
    """A regular (market or limit) order; ``size`` is a quote amount for spot market buys."""

    order_id: str
    client_oid: str
    symbol: str
    kind: MarketType
    side: str
    order_type: str
    size: Decimal
    price: Decimal | None
    created_ms: int
    reduce_only: bool = False
    force: str = "gtc"
    margin_mode: str = "crossed"
    leverage: int = 10
    preset_tp: Decimal | None = None
    preset_sl: Decimal | None = None
    status: str = "live"
    updated_ms: int = 0
    filled: Decimal = ZERO
    quote_filled: Decimal = ZERO
    fee: Decimal = ZERO
    fee_coin: str = "USDT"
    profit: Decimal = ZERO
    trade_side: str = "open"
    source: str = "normal"
    demo: bool = False

    @property
    def is_open(self) -> bool:
        """Tell whether the order can still fill or be cancelled."""
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal | None:
        """The average fill price, or None before any fill."""
        return self.quote_filled / self.filled if self.filled else None


@dataclass(slots=True)
class PlanOrder:
    """A trigger order: ``normal_plan`` or a TP/SL.

    ``pos_profit``/``pos_loss`` close the whole position, ``profit_plan``/``loss_plan``
    close ``size``.
    """

    order_id: str
    client_oid: str
    symbol: str
    plan_type: str
    side: str
    trigger_price: Decimal
    rises: bool
    created_ms: int
    size: Decimal | None = None
    execute_price: Decimal | None = None
    trigger_type: str = "mark_price"
    order_type: str = "market"
    reduce_only: bool = True
    status: str = "live"
    updated_ms: int = 0
    executed_order_id: str | None = None
    margin_mode: str = "crossed"

    @property
    def is_open(self) -> bool:
        """Tell whether the trigger is still armed."""
        return self.status == "live"

    @property
    def hold_side(self) -> str:
        """The position side this trigger closes (one-way mode: ``buy`` = the long)."""
        return "buy" if self.side == "sell" else "sell"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``profit`` is the realized PnL it booked (futures closes)."""

    trade_id: str
    order_id: str
    client_oid: str
    symbol: str
    kind: MarketType
    side: str
    order_type: str
    price: Decimal
    size: Decimal
    quote: Decimal
    fee: Decimal
    fee_coin: str
    profit: Decimal
    trade_side: str
    scope: str
    ts: int

    @classmethod
    def of(
        cls,
        trade_id: str,
        order: Order,
        price: Decimal,
        size: Decimal,
        quote: Decimal,
        fee: Decimal,
        fee_coin: str,
        profit: Decimal,
        trade_side: str,
        scope: str,
        ts: int,
    ) -> Fill:
        """Return an execution of ``order`` (its ids, symbol, kind, side and type)."""
        return cls(
            trade_id,
            order.order_id,
            order.client_oid,
            order.symbol,
            order.kind,
            order.side,
            order.order_type,
            price,
            size,
            quote,
            fee,
            fee_coin,
            profit,
            trade_side,
            scope,
            ts,
        )


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One 8-hourly settlement of one position: ``amount`` > 0 received, < 0 paid."""

    bill_id: str
    symbol: str
    ts: int
    rate: Decimal
    size: Decimal
    price: Decimal
    amount: Decimal
    position_opened_ms: int


@dataclass(slots=True)
class Position:
    """A one-way futures position; ``size`` > 0 long, < 0 short. Totals run since it opened."""

    symbol: str
    size: Decimal
    entry_price: Decimal
    opened_ms: int
    updated_ms: int
    leverage: int
    margin_mode: str = "crossed"
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO

    @property
    def side(self) -> str:
        """``long`` or ``short``."""
        return "long" if self.size > 0 else "short"

    def unrealized(self, price: Decimal) -> Decimal:
        """Return the unrealized PnL at ``price``."""
        return (price - self.entry_price) * self.size

    def margin(self) -> Decimal:
        """Return the initial margin (entry notional / leverage)."""
        return abs(self.size) * self.entry_price / self.leverage


@dataclass(slots=True)
class Account:
    """One API key's books (the key itself is kept out of the repr)."""

    key: str = field(repr=False)
    futures_wallet: Decimal
    futures_deposit: Decimal
    spot: dict[str, Decimal]
    spot_deposit: dict[str, Decimal]
    created_ms: int
    spot_frozen: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, str] = field(default_factory=dict)
    pos_mode: str = "one_way_mode"
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    plans: dict[str, PlanOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    funding: list[FundingPayment] = field(default_factory=list)
    client_oids: dict[str, str] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    futures_fees: Decimal = ZERO

    def order_by(self, order_id: str | None, client_oid: str | None) -> Order | None:
        """Find an order by id or client id."""
        if order_id:
            return self.orders.get(str(order_id))
        if client_oid:
            found = self.client_oids.get(client_oid)
            return self.orders.get(found) if found else None
        return None

    def open_order_margin(self, pricing: Pricing | None = None) -> Decimal:
        """Return the margin locked by open futures limit orders that may open exposure."""
        total = ZERO
        for order in self.orders.values():
            if order.kind is MarketType.FUTURES and order.is_open and not order.reduce_only:
                price = order.price or ZERO
                total += (order.size - order.filled) * price / order.leverage
        return total

    def unrealized(self, pricing: Pricing, now_ms: int) -> Decimal:
        """Return the unrealized PnL of every position at ``now_ms``."""
        return sum(
            (p.unrealized(pricing.price(s, now_ms)) for s, p in self.positions.items()), ZERO
        )

    def futures_available(self, pricing: Pricing, now_ms: int) -> Decimal:
        """Return the USDT free to open new exposure or transfer out."""
        used = sum((p.margin() for p in self.positions.values()), ZERO)
        return (
            self.futures_wallet + self.unrealized(pricing, now_ms) - used - self.open_order_margin()
        )

    def snapshot(self, now_ms: int, pricing: Pricing) -> LedgerView:
        """Return a deep copy of the books, with equity and unrealized PnL at ``now_ms``."""
        unrealized = self.unrealized(pricing, now_ms)
        return LedgerView(
            now_ms=now_ms,
            futures_wallet=self.futures_wallet,
            futures_deposit=self.futures_deposit,
            futures_equity=self.futures_wallet + unrealized,
            futures_available=self.futures_available(pricing, now_ms),
            unrealized_pnl=unrealized,
            realized_pnl=self.realized_pnl,
            futures_fees=self.futures_fees,
            funding_total=sum((f.amount for f in self.funding), ZERO),
            spot={c: v for c, v in self.spot.items() if v or self.spot_frozen.get(c)},
            spot_frozen={c: v for c, v in self.spot_frozen.items() if v},
            spot_deposit=dict(self.spot_deposit),
            positions=copy.deepcopy(self.positions),
            orders=copy.deepcopy(list(self.orders.values())),
            plans=copy.deepcopy(list(self.plans.values())),
            fills=list(self.fills),
            funding=list(self.funding),
            leverage=dict(self.leverage),
        )


@dataclass(frozen=True, slots=True)
class LedgerView:
    """A consistent copy of one account's books for tests and reconciliation."""

    now_ms: int
    futures_wallet: Decimal
    futures_deposit: Decimal
    futures_equity: Decimal
    futures_available: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    futures_fees: Decimal
    funding_total: Decimal
    spot: dict[str, Decimal]
    spot_frozen: dict[str, Decimal]
    spot_deposit: dict[str, Decimal]
    positions: dict[str, Position]
    orders: list[Order]
    plans: list[PlanOrder]
    fills: list[Fill]
    funding: list[FundingPayment]
    leverage: dict[str, int]

    def fees(
        self, symbol: str | None = None, kind: MarketType | None = None, coin: str | None = None
    ) -> Decimal:
        """Return the fees paid (positive), optionally for one symbol, market kind or coin."""
        return sum(
            (
                f.fee
                for f in self.fills
                if (symbol is None or f.symbol == symbol)
                and (kind is None or f.kind is kind)
                and (coin is None or f.fee_coin == coin)
            ),
            ZERO,
        )

    def funding_for(self, symbol: str, since_ms: int | None = None) -> Decimal:
        """Return the funding received (+) or paid (-) for ``symbol`` since ``since_ms``."""
        return sum(
            (
                f.amount
                for f in self.funding
                if f.symbol == symbol and (since_ms is None or f.ts >= since_ms)
            ),
            ZERO,
        )

    def fills_of(self, symbol: str | None = None, kind: MarketType | None = None) -> list[Fill]:
        """Return the fills, optionally of one symbol and market kind."""
        return [
            f
            for f in self.fills
            if (symbol is None or f.symbol == symbol) and (kind is None or f.kind is kind)
        ]

    def open_orders(self) -> list[Order]:
        """Return the orders that are still open."""
        return [o for o in self.orders if o.is_open]

    def open_plans(self, symbol: str | None = None) -> list[PlanOrder]:
        """Return the armed trigger orders, optionally of one symbol."""
        return [p for p in self.plans if p.is_open and (symbol is None or p.symbol == symbol)]

    def futures_drift(self) -> Decimal:
        """Return wallet - (deposit + realized - fees + funding); 0 when the books balance."""
        return self.futures_wallet - (
            self.futures_deposit + self.realized_pnl - self.futures_fees + self.funding_total
        )
