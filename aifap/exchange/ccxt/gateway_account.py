"""Account reads (balance, positions, orders, fills, funding) and position SL/TP.

Split from ``gateway.py`` to keep modules small; the gateway delegates here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, FillReason, Order, OrderRequest
from aifap.core.portfolio import Position
from aifap.core.timeconv import to_ms
from aifap.exchange.ccxt import gateway_convert as convert
from aifap.exchange.ccxt.gateway_client import ClientPool
from aifap.exchange.ccxt.gateway_orders import OrderDesk, classify_stops
from aifap.exchange.ccxt.symbols import to_compact
from aifap.exchange.gateway import Balance, FundingPayment
from aifap.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")
Mapper = Callable[[Callable[[str], Any], Sequence[str]], list[Any]]

_UPNL_KEYS = ("unrealizedPL", "unrealisedPnl", "totalUnrealizedProfit", "totalPerpUPL")
_COIN_KEYS = ("marginCoin", "coin", "asset")

_STOP_PLAN_REASONS = {
    "pos_loss": FillReason.STOP_LOSS,
    "loss_plan": FillReason.STOP_LOSS,
    "pos_profit": FillReason.TAKE_PROFIT,
    "profit_plan": FillReason.TAKE_PROFIT,
}


@dataclass(slots=True)
class StopPlan:
    """Which orders carry preset SL/TP, and which positions get trigger orders after."""

    preset: set[int] = field(default_factory=set)
    after: dict[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)


class Account:
    """Read the account and manage position SL/TP for a ``CcxtGateway``.

    ``mapper(fn, symbols)`` runs one request per symbol (fills, a position's trigger
    orders); the gateway passes one that spreads them over its order threads.
    """

    def __init__(
        self,
        pool: ClientPool,
        desk: OrderDesk,
        policy: RetryPolicy,
        *,
        mapper: Mapper | None = None,
    ) -> None:
        self.pool = pool
        self.map: Mapper = mapper or (lambda fn, items: [fn(x) for x in items])
        self.desk = desk
        self.policy = policy
        self.market_type = pool.config.market_type
        self.quote = "USDT"
        self.traded: set[str] = set()

    @property
    def links_stop_fills(self) -> bool:
        """Tell whether ``fills`` marks the executions of SL/TP trigger orders exactly."""
        return (
            self.market_type is MarketType.FUTURES
            and self.pool.quirks.trigger_history_params is not None
        )

    def _call(self, method: str, *args: Any) -> Any:
        return self.policy.call(_named(lambda: self.pool.call(method, *args), method))

    def balance(self) -> Balance:
        """Return the wallet balance in USDT: total equity minus unrealized PnL."""
        raw = self._call("fetch_balance")
        total = convert.dec((raw.get(self.quote) or {}).get("total")) or Decimal(0)
        free = convert.dec((raw.get(self.quote) or {}).get("free")) or Decimal(0)
        upnl = Decimal(0)
        if self.market_type is MarketType.FUTURES:
            upnl = _find_upnl(raw.get("info"), self.quote) or Decimal(0)
        return Balance(currency=self.quote, wallet=total - upnl, free=free, equity=total)

    def positions(
        self,
        specs: Mapping[str, MarketSpec],
        prices: Callable[[Sequence[str]], dict[str, Decimal]],
    ) -> list[Position]:
        """Return open positions with their SL/TP (spot: every holding, dust included)."""
        if self.market_type is MarketType.SPOT:
            return self._holdings(specs, prices)
        rows = self._call("fetch_positions")
        held: list[Position] = []
        for raw in rows or []:
            symbol = to_compact(raw["symbol"])
            position = convert.position(raw, specs.get(symbol))
            if position is not None:
                held.append(position)
        bare = [p.symbol for p in held if p.take_profit is None and p.stop_loss is None]
        triggers = dict(zip(bare, self.map(self.desk.trigger_orders, bare), strict=True))
        result: list[Position] = []
        for position in held:
            if position.symbol in triggers:
                take_profit, stop_loss = classify_stops(
                    triggers[position.symbol], position.size > 0, position.mark_price
                )
                position = replace(position, take_profit=take_profit, stop_loss=stop_loss)
            result.append(position)
        return sorted(result, key=lambda p: p.symbol)

    def _holdings(
        self,
        specs: Mapping[str, MarketSpec],
        prices: Callable[[Sequence[str]], dict[str, Decimal]],
    ) -> list[Position]:
        raw = self._call("fetch_balance")
        by_base = {spec.base: spec for spec in specs.values() if spec.quote == self.quote}
        held = {
            by_base[coin].symbol: convert.dec(amounts.get("total")) or Decimal(0)
            for coin, amounts in raw.items()
            if coin in by_base and isinstance(amounts, dict)
        }
        held = {s: a for s, a in held.items() if a > 0}  # dust too: it is worth something
        marks = prices(sorted(held))
        return [
            Position(
                symbol=s,
                size=a,
                entry_price=marks.get(s, Decimal(0)),
                mark_price=marks.get(s, Decimal(0)),
            )
            for s, a in sorted(held.items())
        ]

    def open_orders(self, symbol: str | None) -> list[Order]:
        """Return open orders, for one symbol or all."""
        unified = None if symbol is None else self.desk.unified(symbol)
        rows = self._call("fetch_open_orders", unified)
        return [convert.order(raw) for raw in rows or []]

    def stops(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Return the (take profit, stop loss) trigger prices on ``symbol``'s position."""
        position = self._position(symbol)
        if position is None:
            return None, None
        rows = self.desk.trigger_orders(symbol)
        return classify_stops(rows, position.size > 0, position.mark_price)

    def _position(self, symbol: str) -> Position | None:
        rows = self._call("fetch_positions", [self.desk.unified(symbol)])
        for raw in rows or []:
            if to_compact(raw["symbol"]) == symbol:
                held = convert.position(raw, None)
                if held is not None:
                    return held
        return None

    def stop_plan(self, batch: Sequence[OrderRequest], preset_supported: bool) -> StopPlan:
        """Decide where SL/TP go: preset on orders that open from flat, else triggers after.

        An order adding to, reducing or flipping a position gets no preset: its SL/TP is
        set after the batch as trigger orders covering the whole position.
        """
        plan = StopPlan()
        wanted = [r for r in batch if r.take_profit is not None or r.stop_loss is not None]
        if not wanted or self.market_type is not MarketType.FUTURES:
            return plan
        sizes = (
            {p.symbol: p.size for p in self.positions({}, lambda _: {})}
            if any(not r.reduce_only for r in wanted)
            else {}
        )
        for index, request in enumerate(batch):
            before = sizes.get(request.symbol, Decimal(0))
            after = before + request.signed_amount
            if request.reduce_only and abs(after) > abs(before):
                after = Decimal(0) if abs(request.amount) >= abs(before) else after
            has_stops = request.take_profit is not None or request.stop_loss is not None
            if has_stops and preset_supported and before == 0 and not request.reduce_only:
                plan.preset.add(index)
                plan.after.pop(request.symbol, None)
            elif has_stops:
                plan.after[request.symbol] = (request.take_profit, request.stop_loss)
            sizes[request.symbol] = after
        return plan

    def replace_stops(
        self, spec: MarketSpec, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Cancel the position's trigger orders and place new ones for its whole size."""
        symbol = spec.symbol
        for raw in self.desk.trigger_orders(symbol):
            self.desk.cancel_trigger(symbol, raw)
        position = self._position(symbol)
        if position is None:
            log.info("%s: no position, SL/TP cleared", symbol)
            return
        for kind, price in (("take_profit", take_profit), ("stop_loss", stop_loss)):
            if price is not None:
                self.desk.place_trigger(symbol, position.size, kind, price, spec)

    def _symbols(self, symbols: Sequence[str] | None) -> list[str]:
        if symbols is not None:
            return list(symbols)
        known = set(self.traded)
        if self.market_type is MarketType.FUTURES:
            known |= {
                to_compact(r["symbol"])
                for r in self._call("fetch_positions") or []
                if convert.dec(r.get("contracts"))
            }
        return sorted(known)

    def fills(self, since: datetime, symbols: Sequence[str] | None) -> list[Fill]:
        """Return executions at or after ``since`` (per symbol where the venue needs one)."""
        since_ms = to_ms(since)
        rows: list[Any] = []
        if self.pool.quirks.needs_symbol_for_trades or symbols is not None:

            def trades(symbol: str) -> list[Any]:
                return self._call("fetch_my_trades", self.desk.unified(symbol), since_ms) or []

            for found in self.map(trades, self._symbols(symbols)):
                rows += found
        else:
            rows = self._call("fetch_my_trades", None, since_ms) or []
        fills = [convert.fill(raw, self.quote) for raw in _unique(rows)]
        fills = [f for f in fills if f.timestamp >= since]
        if fills and self.links_stop_fills:
            fills = self._mark_stop_fills(fills)
        return sorted(fills, key=lambda f: f.timestamp)

    def _mark_stop_fills(self, fills: list[Fill]) -> list[Fill]:
        """Give the fills of orders an SL/TP trigger executed the trigger's reason.

        A stop the exchange fires is a new order without any of our client ids; the
        trigger's history row names it (``executeOrderId``). Such a fill gets reason
        ``STOP_LOSS``/``TAKE_PROFIT`` and the trigger's client id (when it has one).
        """
        venue = self.pool.quirks
        params = venue.trigger_history_params or {}
        symbols = sorted({f.symbol for f in fills})

        def history(symbol: str) -> list[Any]:
            unified = self.desk.unified(symbol)
            return (
                self._call(
                    "fetch_canceled_and_closed_orders",
                    unified,
                    None,
                    venue.trigger_history_limit,
                    dict(params),
                )
                or []
            )

        executed: dict[str, tuple[FillReason, str | None]] = {}
        for rows in self.map(history, symbols):
            for raw in rows:
                info = raw.get("info") or {}
                order_id = info.get("executeOrderId")
                reason = _STOP_PLAN_REASONS.get(str(info.get("planType") or ""))
                if order_id in (None, "") or reason is None:
                    continue
                client_id = raw.get("clientOrderId") or info.get("clientOid") or None
                executed[str(order_id)] = (reason, None if client_id is None else str(client_id))
        marked: list[Fill] = []
        for fill in fills:
            found = executed.get(fill.order_id or "")
            if found is not None:
                reason, client_id = found
                fill = replace(fill, reason=reason, client_id=client_id or fill.client_id)
            marked.append(fill)
        return marked

    def funding(self, since: datetime, symbols: Sequence[str] | None) -> list[FundingPayment]:
        """Return funding settlements at or after ``since``, oldest first."""
        if self.market_type is not MarketType.FUTURES:
            return []
        since_ms = to_ms(since)
        rows: list[Any] = []
        for symbol in self._symbols(symbols):
            unified = self.desk.unified(symbol)
            rows += self._call("fetch_funding_history", unified, since_ms) or []
        payments = [convert.funding(raw) for raw in _unique(rows)]
        return sorted((p for p in payments if p.timestamp >= since), key=lambda p: p.timestamp)


def _unique(rows: Iterable[Any]) -> list[Any]:
    seen: set[str] = set()
    result = []
    for raw in rows:
        key = str(raw.get("id")) if raw.get("id") is not None else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        result.append(raw)
    return result


def _find_upnl(info: Any, quote: str) -> Decimal | None:
    rows = info if isinstance(info, list) else [info]
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("data"), list | dict):
            found = _find_upnl(row["data"], quote)
            if found is not None:
                return found
        if not isinstance(row, dict):
            continue
        coin = next((row[k] for k in _COIN_KEYS if k in row), quote)
        if str(coin).upper() != quote:
            continue
        for key in _UPNL_KEYS:
            if row.get(key) not in (None, ""):
                return convert.dec(row[key])
    return None


def _named(fn: Callable[[], T], name: str) -> Callable[[], T]:
    fn.__qualname__ = name
    return fn
