"""``CcxtGateway``: the ``Gateway`` protocol over ccxt (Bitget first, Binance, Bybit).

One instance trades one account on one venue and market type. Orders of a batch go
out concurrently, one thread per symbol (legs of the same symbol keep their order, so
a close always precedes the open that follows it); every attempt after the first looks
the client id up before re-sending. Bad input is refused before any request that could
move money: unknown symbols, amounts below the minimum, leverage above the market's
maximum, missing API keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pandas as pd

from aifap.core.errors import ConfigError, OrderRejectedError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, Order, OrderRequest
from aifap.core.portfolio import Position
from aifap.core.timeconv import to_ms
from aifap.core.timeframes import timeframe_ms
from aifap.exchange.ccxt import gateway_convert as convert
from aifap.exchange.ccxt.gateway_account import Account
from aifap.exchange.ccxt.gateway_client import ClientPool
from aifap.exchange.ccxt.gateway_config import CcxtConfig
from aifap.exchange.ccxt.gateway_orders import OrderDesk
from aifap.exchange.ccxt.market_data import PublicMarketData
from aifap.exchange.ccxt.symbols import to_compact
from aifap.exchange.ccxt.venues import quirks as venue_quirks
from aifap.exchange.gateway import BATCH_SIZE, Balance, FundingPayment

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_OHLCV_BARS = 100  # ccxt's and Bitget's default page without ``limit``


class CcxtGateway:
    """One account on one ccxt venue (``bitget``, ``binance``, ``bybit``).

    Args:
        config: venue, market type, keys, leverage, demo mode, emulator URL...
        exchange_factory: builds the ccxt exchange from the config (tests only).
        **fields: ``CcxtConfig`` fields when ``config`` is not given.
    """

    def __init__(
        self,
        config: CcxtConfig | None = None,
        *,
        exchange_factory: Callable[[CcxtConfig], Any] | None = None,
        **fields: Any,
    ) -> None:
        self.config = config if config is not None else CcxtConfig(**fields)
        self.quirks = venue_quirks(self.config.venue)
        self.name = self.config.venue
        self.market_type: MarketType = self.config.market_type
        self.pool = ClientPool(self.config, self.quirks, exchange_factory)
        self.policy = self.config.retry
        self.desk = OrderDesk(self.pool, self.policy)
        self.account = Account(self.pool, self.desk, self.policy, mapper=self._map)
        self._specs: dict[str, MarketSpec] | None = None
        self._prepared: set[str] = set()
        self._position_mode_set = False
        self._warm = False
        self._public: PublicMarketData | None = None
        self._prepare_lock = threading.Lock()
        self._prices: dict[str, tuple[float, Decimal]] = {}
        self._executor = ThreadPoolExecutor(BATCH_SIZE, thread_name_prefix=f"{self.name}-order")
        # sends a cycle's next batch while the caller journals the one before (place_batches)
        self._sender = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-batches")

    def __repr__(self) -> str:
        mode = " demo" if self.config.demo else ""
        return f"CcxtGateway({self.name} {self.market_type}{mode})"

    # ---- markets and account ---------------------------------------------------------

    def markets(self) -> dict[str, MarketSpec]:
        """Return the tradable markets of this market type by compact symbol."""
        if self._specs is None:
            raw = self.policy.call(self._load_markets)
            mode = int(self.pool.main.precisionMode)
            specs: dict[str, MarketSpec] = {}
            for market in raw.values():
                if self._tradable(market):
                    spec = convert.market_spec(market, self.market_type, mode)
                    specs.setdefault(spec.symbol, spec)
            self._specs = specs
        return self._specs

    def _load_markets(self) -> dict[str, Any]:
        result: dict[str, Any] = self.pool.call("load_markets")
        return result

    def _tradable(self, market: dict[str, Any]) -> bool:
        if market.get("active") is False:
            return False
        if self.market_type is MarketType.FUTURES:
            return bool(market.get("swap") and market.get("linear"))
        return bool(market.get("spot"))

    def spec(self, symbol: str) -> MarketSpec:
        """Return the market of ``symbol`` or raise ``OrderRejectedError`` naming it."""
        spec = self.markets().get(symbol)
        if spec is None:
            raise OrderRejectedError(
                f"{symbol}: symbol must be a {self.name} {self.market_type} market, was unknown"
            )
        return spec

    def balance(self) -> Balance:
        """Return the wallet balance in USDT (the exchange equity minus unrealized PnL)."""
        return self.account.balance()

    def positions(self) -> list[Position]:
        """Return open positions (spot: every holding of a coin, dust included)."""
        return self.account.positions(self.markets(), self._reference_prices)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return open (non-trigger) orders, for one symbol or all."""
        return self.account.open_orders(symbol)

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id``, or None if the exchange never saw it."""
        self.spec(symbol)
        return self.policy.call(lambda: self.desk.find(client_id, symbol))

    def stops(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Return the (take profit, stop loss) covering the position in ``symbol``."""
        return self.account.stops(symbol)

    # ---- orders ----------------------------------------------------------------------

    def validate(self, batch: Sequence[OrderRequest]) -> list[OrderRequest]:
        """Check a batch before sending anything; return it rounded to the precision.

        Raises:
            ValueError: more than ``BATCH_SIZE`` orders.
            ExchangeAuthError: API keys missing.
            OrderRejectedError: unknown symbol, amount below the minimum, SL/TP on spot.
            ConfigError: leverage above the market's maximum.
        """
        if len(batch) > BATCH_SIZE:
            raise ValueError(f"batch must hold at most {BATCH_SIZE} orders, was {len(batch)}")
        needs_password = bool(self.pool.main.requiredCredentials.get("password"))
        self.config.require_credentials(needs_password)
        checked: list[OrderRequest] = []
        prices = self._reference_prices(
            [r.symbol for r in batch if not r.reduce_only and r.price is None]
        )
        for request in batch:
            spec = self.spec(request.symbol)
            self._check_leverage(spec)
            if not spec.is_futures and (request.take_profit or request.stop_loss):
                raise OrderRejectedError(
                    f"{request.symbol}: SL/TP must not be set on {self.name} spot orders, "
                    f"was take_profit={request.take_profit} stop_loss={request.stop_loss}"
                )
            amount = spec.round_amount(request.amount)
            price = request.price if request.price is not None else prices.get(request.symbol)
            if not request.reduce_only:
                reason = (
                    spec.below_minimum(amount, price)
                    if price is not None
                    else spec.below_minimum(amount, Decimal("Infinity"))
                )
                if reason is not None:
                    raise OrderRejectedError(f"{request.symbol}: {reason}")
            elif amount <= 0:
                raise OrderRejectedError(
                    f"{request.symbol}: amount must round to > 0 at step {spec.amount_step}, "
                    f"was {request.amount}"
                )
            rounded_price = None if request.price is None else spec.round_price(request.price)
            checked.append(_replace(request, amount=amount, price=rounded_price))
        return checked

    def _check_leverage(self, spec: MarketSpec) -> None:
        if not spec.is_futures:
            return
        leverage = self.config.leverage_for(spec.symbol)
        if leverage > spec.max_leverage:
            raise ConfigError(
                f"{spec.symbol}: leverage must be <= {spec.max_leverage} (the market's "
                f"maximum), was {leverage}"
            )

    def prepare(self, symbols: Sequence[str]) -> None:
        """Set position mode, margin mode and leverage once per symbol (futures).

        The first call also builds the order threads' ccxt clients, so a batch's
        requests leave together.
        """
        self._warm_up()
        self._prepare_symbols(symbols)

    def prepare_in_background(self, symbols: Sequence[str]) -> Future[None]:
        """Start ``prepare(symbols)`` and a refresh of their reference prices on an order thread.

        The caller does other work (the journal) meanwhile and waits on the returned
        future before sending; errors come out of ``future.result()``.
        """
        self._warm_up()
        wanted = list(symbols)

        def ready() -> None:
            self._prepare_symbols(wanted)
            self._reference_prices(wanted)

        return self._executor.submit(ready)

    def balance_and_positions(self) -> tuple[Balance, list[Position]]:
        """Return ``balance()`` and ``positions()``, read concurrently (one round trip)."""
        self._warm_up()
        positions = self._executor.submit(self.positions)
        balance = self.balance()
        return balance, positions.result()

    def _warm_up(self) -> None:
        with self._prepare_lock:
            if not self._warm:
                self.markets()
                self.pool.warm(self._executor, BATCH_SIZE)
                self.pool.warm(self._sender, 1)
                self._warm = True

    def _prepare_symbols(self, symbols: Sequence[str]) -> None:
        with self._prepare_lock:
            if self.market_type is not MarketType.FUTURES:
                return
            if self.quirks.one_way_mode and not self._position_mode_set:
                self.policy.call(
                    lambda: self.pool.call("set_position_mode", False, None),
                )
                self._position_mode_set = True
            for symbol in symbols:
                if symbol in self._prepared:
                    continue
                spec = self.spec(symbol)
                self._check_leverage(spec)
                unified = self.desk.unified(symbol)
                mode = self.config.margin_mode
                self.policy.call(self.pool.call, "set_margin_mode", mode, unified)
                leverage = self.config.leverage_for(symbol)
                self.policy.call(self.pool.call, "set_leverage", leverage, unified)
                self._prepared.add(symbol)

    def _map(self, fn: Callable[[str], T], items: Sequence[str]) -> list[T]:
        """Return ``[fn(x) for x in items]``, run on the order threads (their own clients)."""
        if len(items) < 2:
            return [fn(x) for x in items]
        return list(self._executor.map(fn, items))

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        """Send up to 5 orders concurrently (one thread per symbol); see the module doc."""
        checked = self.validate(batch)
        if not checked:
            return []
        self.prepare(sorted({r.symbol for r in checked}))
        prices = self._reference_prices(
            [r.symbol for r in checked if r.price is None and not r.reduce_only]
        )
        plan = self.account.stop_plan(checked, self.quirks.preset_stops)
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(checked):
            groups.setdefault(request.symbol, []).append(index)
        results: dict[int, Order] = {}

        def run(indexes: list[int]) -> None:
            for index in indexes:
                request = checked[index]
                params = self.desk.order_params(
                    request, preset=index in plan.preset, reference_price=prices.get(request.symbol)
                )
                results[index] = self.desk.place_once(request, self.spec(request.symbol), params)

        futures = [self._executor.submit(run, indexes) for indexes in groups.values()]
        errors = [f.exception() for f in futures]
        self.account.traded.update(groups)
        for error in errors:
            if error is not None:
                raise error
        for symbol, (take_profit, stop_loss) in plan.after.items():
            self.set_stops(symbol, take_profit=take_profit, stop_loss=stop_loss)
        return [results[i] for i in range(len(checked))]

    def place_batches(
        self,
        batches: Sequence[Sequence[OrderRequest]],
        acknowledged: Callable[[int, list[Order]], None],
    ) -> None:
        """Place ``batches`` one after the other; call ``acknowledged(i, orders)`` for each.

        Batch ``i + 1`` is sent (by :meth:`place_orders`, on a thread of its own) as soon
        as batch ``i`` is answered, while ``acknowledged(i, ...)`` runs on the caller's
        thread: a session's journal writes leave the path between two batches, as with
        the gateway service's streamed batches. A batch refused whole raises
        (``OrderRejectedError``) before the next is sent; if ``acknowledged`` raises, the
        batch already in flight is waited for and the exception passed on.
        """
        if not batches:
            return
        pending = self._sender.submit(self.place_orders, batches[0])
        try:
            for number in range(len(batches)):
                placed = pending.result()
                if number + 1 < len(batches):
                    pending = self._sender.submit(self.place_orders, batches[number + 1])
                acknowledged(number, placed)
        except BaseException:
            wait([pending])  # never leave an order request running behind the caller's back
            raise

    def cancel(
        self, symbol: str, *, client_id: str | None = None, order_id: str | None = None
    ) -> None:
        """Cancel one order by client id or exchange id (already gone is fine)."""
        if client_id is None and order_id is None:
            raise ValueError("cancel needs client_id or order_id, was neither")
        self.spec(symbol)
        params = {} if client_id is None else {"clientOrderId": client_id}
        unified = self.desk.unified(symbol)
        self.policy.call(lambda: self.pool.lookup("cancel_order", order_id, unified, params))

    def set_stops(
        self, symbol: str, *, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Replace the SL/TP of the whole position in ``symbol`` by trigger orders."""
        spec = self.spec(symbol)
        if not spec.is_futures:
            raise OrderRejectedError(f"{symbol}: SL/TP must be on a futures position, was spot")
        self.account.replace_stops(spec, take_profit, stop_loss)

    # ---- history ---------------------------------------------------------------------

    @property
    def links_stop_fills(self) -> bool:
        """Tell whether ``fills`` marks the executions of our SL/TP exactly (by reason)."""
        return self.account.links_stop_fills

    def fills(self, since: datetime, symbols: Sequence[str] | None = None) -> list[Fill]:
        """Return executions at or after ``since``, oldest first.

        Where the venue links a fired SL/TP trigger to the order it executed
        (``links_stop_fills``: Bitget futures), that order's fills carry reason
        ``STOP_LOSS``/``TAKE_PROFIT``.
        """
        return self.account.fills(since, symbols)

    def funding(
        self, since: datetime, symbols: Sequence[str] | None = None
    ) -> list[FundingPayment]:
        """Return funding settlements at or after ``since``, oldest first."""
        return self.account.funding(since, symbols)

    def ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return completed bars of ``symbol`` (the still-forming bar is dropped).

        Read through the data collector's public client
        (``aifap.exchange.ccxt.market_data.PublicMarketData``): no keys, the same retry
        policy and URL. With ``since``, up to ``limit`` bars (one page at most) opening
        from it; without, the last ``limit`` (default 100) completed bars.
        """
        self.spec(symbol)
        step = timeframe_ms(timeframe)
        now_ms = to_ms(datetime.now(UTC))
        count = limit if limit is not None else DEFAULT_OHLCV_BARS
        if since is not None:  # a window of ``count`` bars: ccxt pages back from its end
            start_ms = to_ms(since)
            end_ms = min(now_ms, start_ms + count * step)
        else:
            end_ms = now_ms
            start_ms = (now_ms // step - count) * step
        ts, values = self.public().candles(symbol, timeframe, start_ms, end_ms)
        complete = ts + step <= now_ms
        rows = [[int(t), *v] for t, v in zip(ts[complete], values[complete], strict=True)]
        frame = convert.bars(rows)
        return frame.iloc[:count] if since is not None else frame.iloc[-count:]

    def public(self) -> PublicMarketData:
        """Return the public-data client of this venue (built on first use)."""
        with self._prepare_lock:
            if self._public is None:
                self._public = PublicMarketData(
                    self.config.venue,
                    self.market_type,
                    api_url=self.config.api_url,
                    timeout_ms=self.config.timeout_ms,
                    policy=self.policy,
                )
            return self._public

    def reference_prices(
        self, symbols: Sequence[str], *, fresh: bool = False
    ) -> dict[str, Decimal]:
        """Return the last prices orders are checked at and spot market buys costed at.

        ``fresh``: ask the exchange now rather than use prices up to ``price_ttl_s``
        old; the orders placed within ``price_ttl_s`` after use the same prices.
        """
        if fresh:
            for symbol in symbols:
                self._prices.pop(symbol, None)
        return self._reference_prices(symbols)

    # ---- helpers ---------------------------------------------------------------------

    def _reference_prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Return last prices for ``symbols`` (cached ``price_ttl_s`` seconds).

        A refresh asks for every symbol this gateway has prepared or priced before as
        well (one tickers request either way), so the next batches find theirs cached.
        """
        now = time.monotonic()
        ttl = self.config.price_ttl_s
        missing = {s for s in symbols if s not in self._prices or now - self._prices[s][0] > ttl}
        if missing:
            wanted = sorted(
                s for s in missing | self._prepared | set(self._prices) if s in self.markets()
            )
            unified = [self.desk.unified(s) for s in wanted]
            if unified:
                tickers = self.policy.call(lambda: self.pool.call("fetch_tickers", unified))
                for raw in (tickers or {}).values():
                    price = convert.dec(raw.get("last") or raw.get("close"))
                    if price:
                        self._prices[to_compact(raw["symbol"])] = (now, price)
        return {s: self._prices[s][1] for s in symbols if s in self._prices}

    def close(self) -> None:
        """Stop the worker threads and close HTTP sessions."""
        self._sender.shutdown(wait=True)
        self._executor.shutdown(wait=True)
        self.pool.close()
        if self._public is not None:
            self._public.close()


def _replace(request: OrderRequest, **changes: Any) -> OrderRequest:
    from dataclasses import replace

    return replace(request, **changes)

