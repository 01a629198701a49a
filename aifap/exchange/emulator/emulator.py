"""``BitgetEmulator``: the facade tests, the gateway and the CLI use (see the package doc)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import TracebackType

import pandas as pd

from aifap.exchange.emulator.app import Router, build_app
from aifap.exchange.emulator.auth import KeyRing
from aifap.exchange.emulator.bars import BarCallable, BarFeed, SyntheticBars
from aifap.exchange.emulator.clock import ClockFn, ManualClock, system_clock, to_ms
from aifap.exchange.emulator.engine import Engine, EngineConfig
from aifap.exchange.emulator.faults import FaultInjector, RequestLog
from aifap.exchange.emulator.ledger import Account, LedgerView
from aifap.exchange.emulator.markets import DEFAULT_MARKETS, EmulatorMarket, MarketBook
from aifap.exchange.emulator.partials import PartialFillRule
from aifap.exchange.emulator.pricing import FundingRates, Pricing
from aifap.exchange.emulator.private import register_private
from aifap.exchange.emulator.public import register_public
from aifap.exchange.emulator.server import ThreadedServer

log = logging.getLogger(__name__)


class BitgetEmulator:
    """A local exchange speaking Bitget's v2 REST dialect (the subset ccxt uses).

    Args:
        bars: ``{symbol: 1m frame}``, a callable ``(symbol, start, end) -> frame``, or
            None for a deterministic synthetic walk around each market's fallback price.
        markets: the listed spot pairs and perpetuals.
        clock: ``() -> epoch ms``; a ``ManualClock`` or a replay clock. Default: wall time.
        holes: ``{symbol: [open times]}`` of base bars the feed withholds.
        base_timeframe_seconds: the length of the provider's bars.
        initial_balance: USDT credited to a new account's futures wallet.
        initial_spot_balance: USDT credited to a new account's spot wallet (default: the same).
        restrict_keys: accept only keys registered with ``add_account``.
        dedupe_client_oids: refuse a clientOid already seen on the account (Bitget's rule);
            False: refuse only one that belongs to an open order (Binance's rule).
        funding_rates: a constant rate per 8 h, ``{symbol: rate}`` or ``fn(symbol, ms)``.
        funding_history_start: the first settlement ``history-fund-rate`` lists.
        default_leverage: the leverage of a symbol until ``set-leverage`` is called.
        taker_fee: overrides every futures market's taker fee rate (default 0.06%).
        maker_fee: overrides every futures market's maker fee rate (default 0.02%).
        seed: seeds fault probabilities and random latencies.
    """

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame] | BarCallable | None = None,
        *,
        markets: Iterable[EmulatorMarket] = DEFAULT_MARKETS,
        clock: ClockFn | None = None,
        holes: Mapping[str, Iterable[datetime | int | str]] | None = None,
        base_timeframe_seconds: int = 60,
        initial_balance: Decimal | int | str = Decimal(10_000),
        initial_spot_balance: Decimal | int | str | None = None,
        restrict_keys: bool = False,
        dedupe_client_oids: bool = True,
        funding_rates: FundingRates = Decimal("0.0001"),
        funding_history_start: datetime | int | str | None = None,
        default_leverage: int = 10,
        taker_fee: Decimal | str | None = None,
        maker_fee: Decimal | str | None = None,
        seed: int = 0,
    ) -> None:
        listed = list(markets)
        if taker_fee is not None or maker_fee is not None:
            listed = [
                replace(
                    m,
                    taker_fee=m.taker_fee if taker_fee is None else Decimal(str(taker_fee)),
                    maker_fee=m.maker_fee if maker_fee is None else Decimal(str(maker_fee)),
                )
                if m.is_futures
                else m
                for m in listed
            ]
        self.markets = MarketBook(listed)
        if bars is None:
            bars = SyntheticBars(
                {m.symbol: float(m.fallback_price) for m in self.markets.all()}, seed=seed
            )
        self.feed = BarFeed(bars, base_timeframe_seconds, holes)
        self.pricing = Pricing(self.feed, self.markets, funding_rates)
        self.clock: ClockFn = clock or system_clock
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.faults = FaultInjector(seed)
        self.request_log = RequestLog()
        self.keys = KeyRing(restrict=restrict_keys)
        self.engine = Engine(
            self.markets,
            self.pricing,
            EngineConfig(
                initial_balance=Decimal(str(initial_balance)),
                initial_spot_balance=Decimal(
                    str(
                        initial_spot_balance
                        if initial_spot_balance is not None
                        else initial_balance
                    )
                ),
                dedupe_client_oids=dedupe_client_oids,
                default_leverage=default_leverage,
            ),
            self.clock(),
        )
        self.funding_history_start_ms = (
            to_ms(funding_history_start)
            if funding_history_start is not None
            else self.clock() - 30 * 86_400_000
        )
        self.router = Router()
        register_public(self.router, self)
        register_private(self.router, self)
        self.app = build_app(self)
        self._server: ThreadedServer | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> BitgetEmulator:
        """Serve on ``host:port`` from a background thread (port 0 = any free port)."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self.stopping.clear()
        self._server = ThreadedServer(self.app, host, port)
        self._server.start()
        log.info("Bitget emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving; held (timed-out) requests are released first."""
        self.stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> BitgetEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT``) to put in every ccxt ``urls['api']`` key."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return f"http://{self._server.host}:{self._server.port}"

    # -- clock and prices ------------------------------------------------------------
    def now_ms(self) -> int:
        """Return the emulator's time in epoch ms (never earlier than already processed)."""
        return max(self.clock(), self.engine.processed_ms)

    def set_clock(self, clock: ClockFn) -> None:
        """Replace the clock (e.g. with an accelerated replay clock).

        The path is processed from the new clock's current time on: a clock set
        earlier than the time already processed restarts the books' time there
        (bars and settlements in between are not replayed twice).
        """
        with self.lock:
            self.clock = clock
            self.engine.processed_ms = clock()

    def set_time(self, when: datetime | int | str) -> None:
        """Move a ``ManualClock`` to ``when`` and process the path up to it."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("set_time needs a ManualClock; use set_clock for other clocks")
        self.clock.set(when)
        self.advance()

    def set_price(self, symbol: str, price: Decimal | float | str | None) -> None:
        """Pin the price of ``symbol`` (None: follow the bars); limits and triggers react."""
        with self.lock:
            self.pricing.set_price(symbol, price)
            self.engine.on_price(symbol, self.now_ms())

    def advance(self) -> int:
        """Fill crossed limits, fire SL/TP triggers and settle funding up to now."""
        with self.lock:
            now = self.now_ms()
            self.engine.advance(now)
            return now

    def partial_fills(
        self,
        ratio: Decimal | float | str | None = Decimal("0.5"),
        *,
        symbol: str | None = None,
        count: int | None = None,
    ) -> PartialFillRule | None:
        """Make futures market orders fill ``ratio`` now and the rest on the next price step.

        Args:
            ratio: the share that fills at once, in (0, 1); None removes every rule.
            symbol: only orders in this compact symbol (None: every symbol).
            count: only the next ``count`` matching orders (None: every one).

        Returns:
            The rule added (its ``fired`` counts the orders it split), or None.
        """
        with self.lock:
            if ratio is None:
                self.engine.partials.clear()
                return None
            rule = PartialFillRule(Decimal(str(ratio)), symbol, count)
            return self.engine.partials.add(rule)

    # -- accounts and ledger -----------------------------------------------------------
    def add_account(
        self,
        key: str,
        secret: str,
        passphrase: str,
        balance: Decimal | int | str | None = None,
        spot_balance: Decimal | int | str | None = None,
    ) -> None:
        """Register an API key (its requests are then signature-checked) and fund it."""
        self.keys.add_key(key, secret, passphrase)
        with self.lock:
            self.engine.account(
                key,
                self.now_ms(),
                Decimal(str(balance)) if balance is not None else None,
                Decimal(str(spot_balance)) if spot_balance is not None else None,
            )

    def account(self, key: str) -> Account:
        """Return the live account of ``key`` (created and funded if new)."""
        with self.lock:
            return self.engine.account(key, self.now_ms())

    def ledger(self, key: str) -> LedgerView:
        """Return a snapshot of one account's books (balances, positions, orders, fills...)."""
        with self.lock:
            self.advance()
            return self.engine.account(key, self.now_ms()).snapshot(self.now_ms(), self.pricing)

    def reset_log(self) -> None:
        """Forget the request log."""
        self.request_log.clear()


def manual_clock(start: datetime | int | str) -> ManualClock:
    """Return a ``ManualClock`` starting at ``start`` (convenience re-export)."""
    return ManualClock(start)


ClockLike = Callable[[], int]
