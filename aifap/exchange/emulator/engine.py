"""The matching engine: fills, positions, limit crossing, SL/TP triggers and funding.

Prices come from ``Pricing`` (the bar path or a pinned price). ``advance(now)`` walks
the complete base bars closed since the last call, in time order together with the
8-hourly funding settlements: a resting limit fills at its price when a bar trades
through it (maker fee); the rest of a partially filled market order (see ``partials``)
fills at the open of the next bar as a taker; an armed trigger fires when a bar
reaches it and executes at the trigger price (or the bar's open if the bar gapped
past it) as a taker. A pinned price replaces the bars of its symbol and is checked
at once (``on_price``).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from aifap.core.markets import MarketType
from aifap.exchange.emulator.errors import BitgetError
from aifap.exchange.emulator.ledger import (
    ZERO,
    Account,
    Fill,
    FundingPayment,
    Order,
    PlanOrder,
    Position,
)
from aifap.exchange.emulator.markets import EmulatorMarket, MarketBook
from aifap.exchange.emulator.partials import PartialFills
from aifap.exchange.emulator.pricing import Pricing, settlements_between

log = logging.getLogger(__name__)

FEE_QUANTUM = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Account defaults and exchange rules."""

    initial_balance: Decimal = Decimal(10_000)
    initial_spot_balance: Decimal = Decimal(10_000)
    dedupe_client_oids: bool = True
    default_leverage: int = 10


def fee_of(notional: Decimal, rate: Decimal) -> Decimal:
    """Return the fee on ``notional`` rounded to 1e-8."""
    return (abs(notional) * rate).quantize(FEE_QUANTUM, ROUND_HALF_UP)


class Engine:
    """All accounts and the matching state. Callers hold the emulator's lock."""

    def __init__(
        self, markets: MarketBook, pricing: Pricing, config: EngineConfig, start_ms: int
    ) -> None:
        self.markets = markets
        self.pricing = pricing
        self.config = config
        self.accounts: dict[str, Account] = {}
        self.processed_ms = start_ms
        self.partials = PartialFills()
        self._ids = itertools.count(1_300_000_000_000_000_001)

    def next_id(self) -> str:
        """Return a fresh Bitget-looking numeric id."""
        return str(next(self._ids))

    # -- accounts -------------------------------------------------------------------
    def account(
        self,
        key: str,
        now_ms: int,
        balance: Decimal | None = None,
        spot_balance: Decimal | None = None,
    ) -> Account:
        """Return the account of ``key``, creating and funding it on first use."""
        found = self.accounts.get(key)
        if found is not None:
            return found
        futures = self.config.initial_balance if balance is None else balance
        spot = self.config.initial_spot_balance if spot_balance is None else spot_balance
        account = Account(
            key=key,
            futures_wallet=futures,
            futures_deposit=futures,
            spot={"USDT": spot},
            spot_deposit={"USDT": spot},
            created_ms=now_ms,
        )
        self.accounts[key] = account
        return account

    def market(self, kind: MarketType, symbol: str) -> EmulatorMarket:
        """Return a listed market or raise Bitget's unknown-symbol error."""
        market = self.markets.get(kind, symbol)
        if market is None:
            raise BitgetError("40034", f"Parameter {symbol} does not exist")
        return market

    def leverage_of(self, account: Account, symbol: str) -> int:
        """Return the account's leverage for ``symbol``."""
        market = self.market(MarketType.FUTURES, symbol)
        default = min(self.config.default_leverage, market.max_leverage)
        return account.leverage.get(symbol, default)

    # -- fills -----------------------------------------------------------------------
    def fill_futures(
        self, account: Account, order: Order, size: Decimal, price: Decimal, now_ms: int, scope: str
    ) -> None:
        """Execute ``size`` of a futures order at ``price``: fees, PnL, position."""
        market = self.market(MarketType.FUTURES, order.symbol)
        rate = market.taker_fee if scope == "taker" else market.maker_fee
        signed = size if order.side == "buy" else -size
        position = account.positions.get(order.symbol)
        held = position.size if position else ZERO
        closing = min(abs(signed), abs(held)) if held and (held > 0) != (signed > 0) else ZERO
        opening = abs(signed) - closing
        if closing:
            assert position is not None
            profit = closing * (price - position.entry_price) * (1 if held > 0 else -1)
            fee = fee_of(closing * price, rate)
            position.size += closing if held < 0 else -closing
            position.realized_pnl += profit
            position.fees += fee
            position.updated_ms = now_ms
            self._book_fill(account, order, closing, price, fee, profit, "close", scope, now_ms)
            if position.size == 0:
                del account.positions[order.symbol]
                self._cancel_position_triggers(account, order.symbol, now_ms)
        if opening:
            fee = fee_of(opening * price, rate)
            position = account.positions.get(order.symbol)
            direction = Decimal(1 if signed > 0 else -1)
            if position is None:
                position = Position(
                    order.symbol,
                    ZERO,
                    price,
                    now_ms,
                    now_ms,
                    self.leverage_of(account, order.symbol),
                    order.margin_mode,
                )
                account.positions[order.symbol] = position
            total = abs(position.size) + opening
            position.entry_price = (
                abs(position.size) * position.entry_price + opening * price
            ) / total
            position.size += direction * opening
            position.fees += fee
            position.updated_ms = now_ms
            self._book_fill(account, order, opening, price, fee, ZERO, "open", scope, now_ms)
            self._attach_presets(account, order, opening, now_ms)
        order.status = "filled" if order.filled >= order.size else "partially_filled"
        order.updated_ms = now_ms

    def _book_fill(
        self,
        account: Account,
        order: Order,
        size: Decimal,
        price: Decimal,
        fee: Decimal,
        profit: Decimal,
        trade_side: str,
        scope: str,
        now_ms: int,
    ) -> None:
        account.futures_wallet += profit - fee
        account.realized_pnl += profit
        account.futures_fees += fee
        if not order.filled or trade_side == "close":
            order.trade_side = trade_side
        order.filled += size
        order.quote_filled += size * price
        order.fee += fee
        order.profit += profit
        account.fills.append(
            Fill.of(
                self.next_id(), order, price, size, size * price, fee, "USDT", profit, trade_side,
                scope, now_ms,
            )
        )  # fmt: skip

    def _attach_presets(self, account: Account, order: Order, size: Decimal, now_ms: int) -> None:
        # preset TP/SL become partial trigger orders for the size this order opened
        closing_side = "sell" if order.side == "buy" else "buy"
        long = order.side == "buy"
        for price, plan_type, rises in (
            (order.preset_tp, "profit_plan", long),
            (order.preset_sl, "loss_plan", not long),
        ):
            if price is not None:
                plan = PlanOrder(
                    self.next_id(),
                    self.next_id(),
                    order.symbol,
                    plan_type,
                    closing_side,
                    price,
                    rises,
                    now_ms,
                    size=size,
                    updated_ms=now_ms,
                    margin_mode=order.margin_mode,
                )
                account.plans[plan.order_id] = plan

    def _cancel_position_triggers(self, account: Account, symbol: str, now_ms: int) -> None:
        for plan in account.plans.values():
            if plan.symbol == symbol and plan.is_open and plan.plan_type != "normal_plan":
                plan.status = "cancelled"
                plan.updated_ms = now_ms

    def fill_spot(
        self, account: Account, order: Order, base: Decimal, price: Decimal, now_ms: int, scope: str
    ) -> None:
        """Execute ``base`` units of a spot order at ``price`` (fee in the received coin)."""
        market = self.market(MarketType.SPOT, order.symbol)
        rate = market.taker_fee if scope == "taker" else market.maker_fee
        quote = base * price
        if order.side == "buy":
            fee, coin = fee_of(base, rate), market.base
            self._spend(account, market.quote, quote, order)
            account.spot[market.base] = account.spot.get(market.base, ZERO) + base - fee
        else:
            fee, coin = fee_of(quote, rate), market.quote
            self._spend(account, market.base, base, order)
            account.spot[market.quote] = account.spot.get(market.quote, ZERO) + quote - fee
        order.filled += base
        order.quote_filled += quote
        order.fee += fee
        order.fee_coin = coin
        order.updated_ms = now_ms
        done = (
            order.quote_filled >= order.size
            if self._is_quote_sized(order)
            else (order.filled >= order.size)
        )
        order.status = "filled" if done else "partially_filled"
        if done:
            self._release_spot(account, order)
        fill = Fill.of(
            self.next_id(), order, price, base, quote, fee, coin, ZERO, "", scope, now_ms
        )
        account.fills.append(fill)

    @staticmethod
    def _is_quote_sized(order: Order) -> bool:
        return order.order_type == "market" and order.side == "buy"

    def _spend(self, account: Account, coin: str, amount: Decimal, order: Order) -> None:
        # limit orders spend from their frozen reserve, market orders from the free balance
        if order.order_type == "limit":
            account.spot_frozen[coin] -= amount
        else:
            account.spot[coin] = account.spot.get(coin, ZERO) - amount

    def _release_spot(self, account: Account, order: Order) -> None:
        if order.order_type != "limit":
            return
        market = self.market(MarketType.SPOT, order.symbol)
        price = order.price or ZERO
        if order.side == "buy":
            coin, left = market.quote, order.size * price - order.quote_filled
        else:
            coin, left = market.base, order.size - order.filled
        if left:
            account.spot_frozen[coin] -= left
            account.spot[coin] = account.spot.get(coin, ZERO) + left

    def cancel_order(self, account: Account, order: Order, now_ms: int) -> None:
        """Cancel an open order, releasing what it reserved."""
        if order.kind is MarketType.SPOT:
            self._release_spot(account, order)
        order.status = "cancelled"
        order.updated_ms = now_ms

    # -- the path --------------------------------------------------------------------
    def advance(self, now_ms: int) -> None:
        """Process every bar close and funding settlement in ``(processed, now]``."""
        start = self.processed_ms
        if now_ms <= start:
            return
        events: list[tuple[int, int, str, tuple[float, float, float, float]]] = []
        for symbol in self._active_symbols():
            if self.pricing.override(symbol) is not None or not self.pricing.feed.has(symbol):
                continue
            base = self.pricing.feed.base_ms
            ts, values = self.pricing.feed.base_bars(symbol, start - base + 1, now_ms - base + 1)
            for t, row in zip(ts.tolist(), values.tolist(), strict=True):
                if start < t + base <= now_ms:
                    events.append((t + base, 0, symbol, (row[0], row[1], row[2], row[3])))
        for settle in settlements_between(start, now_ms):
            events.append((settle, 1, "", (0.0, 0.0, 0.0, 0.0)))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for when, kind, symbol, bar in events:
            if kind == 0:
                o, h, lo, _ = (Decimal(repr(x)) for x in bar)
                self._on_bar(symbol, o, h, lo, when)
            else:
                self._settle_funding(when)
        self.processed_ms = now_ms

    def on_price(self, symbol: str, now_ms: int) -> None:
        """Check limits and triggers of ``symbol`` against its current price."""
        price = self.pricing.price(symbol, now_ms)
        self._on_bar(symbol, price, price, price, now_ms)

    def _active_symbols(self) -> set[str]:
        symbols: set[str] = set()
        for account in self.accounts.values():
            symbols.update(o.symbol for o in account.orders.values() if o.is_open)
            symbols.update(p.symbol for p in account.plans.values() if p.is_open)
        return symbols

    def _on_bar(self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, when: int) -> None:
        for account in list(self.accounts.values()):
            for order in list(account.orders.values()):
                if order.symbol != symbol or not order.is_open:
                    continue
                if order.price is None:  # the rest of a partially filled market order
                    if order.kind is MarketType.FUTURES:
                        self._fill_resting(account, order, open_, when, "taker")
                    continue
                crossed = low <= order.price if order.side == "buy" else high >= order.price
                if crossed:
                    self._fill_resting(account, order, order.price, when, "maker")
            # stops before profits when one bar reaches both: the conservative reading
            plans = sorted(
                (p for p in account.plans.values() if p.symbol == symbol and p.is_open),
                key=lambda p: (p.plan_type not in ("loss_plan", "pos_loss"), int(p.order_id)),
            )
            for plan in plans:
                if not plan.is_open:
                    continue
                if (high >= plan.trigger_price) if plan.rises else (low <= plan.trigger_price):
                    gapped = (
                        open_ > plan.trigger_price if plan.rises else (open_ < plan.trigger_price)
                    )
                    self.execute_plan(account, plan, open_ if gapped else plan.trigger_price, when)

    def _fill_resting(
        self, account: Account, order: Order, price: Decimal, when: int, scope: str
    ) -> None:
        if order.kind is MarketType.FUTURES:
            left = order.size - order.filled
            if order.reduce_only:
                held = account.positions.get(order.symbol)
                reducible = (
                    abs(held.size) if held and (held.size > 0) == (order.side == "sell") else ZERO
                )
                if reducible <= 0:
                    self.cancel_order(account, order, when)
                    return
                left = min(left, reducible)
            self.fill_futures(account, order, left, price, when, scope)
            if order.reduce_only and order.filled < order.size:
                order.status = "filled"
        else:
            self.fill_spot(account, order, order.size - order.filled, price, when, scope)

    def execute_plan(self, account: Account, plan: PlanOrder, price: Decimal, when: int) -> None:
        """Fire a trigger order: close (part of) the position or place its order."""
        plan.status, plan.updated_ms = "executed", when
        position = account.positions.get(plan.symbol)
        if plan.plan_type == "normal_plan":
            size = plan.size or ZERO
        else:
            if position is None or (position.size > 0) != (plan.side == "sell"):
                plan.status = "cancelled"
                return
            whole = abs(position.size)
            size = whole if plan.plan_type.startswith("pos_") else min(plan.size or whole, whole)
        order = Order(
            self.next_id(),
            self.next_id(),
            plan.symbol,
            MarketType.FUTURES,
            plan.side,
            plan.order_type if plan.execute_price else "market",
            size,
            plan.execute_price,
            when,
            reduce_only=plan.reduce_only,
            margin_mode=plan.margin_mode,
            leverage=self.leverage_of(account, plan.symbol),
            updated_ms=when,
            source=plan.plan_type,
        )
        account.orders[order.order_id] = order
        account.client_oids[order.client_oid] = order.order_id
        plan.executed_order_id = order.order_id
        if order.price is None or (order.side == "buy") == (price <= order.price):
            self.fill_futures(account, order, size, price, when, "taker")

    def _settle_funding(self, when: int) -> None:
        for account in self.accounts.values():
            for symbol, position in account.positions.items():
                rate = self.pricing.funding_rate(symbol, when)
                price = self.pricing.price(symbol, when)
                amount = (-position.size * price * rate).quantize(FEE_QUANTUM, ROUND_HALF_UP)
                account.futures_wallet += amount
                position.funding += amount
                account.funding.append(
                    FundingPayment(
                        self.next_id(),
                        symbol,
                        when,
                        rate,
                        position.size,
                        price,
                        amount,
                        position.opened_ms,
                    )
                )
