"""A local Bitget exchange: the v2 REST subset ``ccxt.bitget`` uses, for tests and the CLI.

Start one (in-process, any free port) and point ccxt at it::

    from aifap.exchange.emulator import BitgetEmulator, ManualClock, bitget_client

    clock = ManualClock("2024-03-01T00:00:00Z")
    emu = BitgetEmulator(bars={"BTCUSDT": frame}, clock=clock, initial_balance=10_000)
    emu.start()                       # emu.url == "http://127.0.0.1:<port>"
    ex = bitget_client(emu, key="k")  # ccxt.bitget, uta=False, all urls['api'] -> emu.url
    ...
    emu.stop()                        # or: with BitgetEmulator(...) as emu: ...

From the command line: ``aifap emulator --port 18080``.

Python API (``BitgetEmulator``):

- construction: ``bars`` (``{symbol: 1m frame}`` in ``aifap.core.bars`` format, a
  callable ``(symbol, start, end) -> frame``, or None for a synthetic walk),
  ``markets`` (``EmulatorMarket`` list; ``EmulatorMarket.from_spec(MarketSpec)``),
  ``clock`` (``() -> epoch ms``: ``ManualClock`` or a replay clock), ``holes``,
  ``initial_balance`` / ``initial_spot_balance`` (USDT for a new account),
  ``restrict_keys``, ``dedupe_client_oids`` (Bitget: True; Binance-like: False),
  ``funding_rates`` (constant, per symbol, or ``fn(symbol, ms)``), ``default_leverage``,
  ``taker_fee`` / ``maker_fee`` (futures overrides), ``seed``. Bars from files:
  ``loaders.load_csv_bars(directory)``; clocks: ``ManualClock``, ``ReplayClock(start, speed)``.
- lifecycle: ``start(host, port=0)``, ``stop()``, ``url``, context manager.
- clock and prices: ``set_clock(fn)``, ``set_time(when)`` (ManualClock),
  ``set_price(symbol, price | None)``, ``advance()`` (fills crossed limits, fires SL/TP,
  settles funding up to now; also done before every request), ``now_ms()``.
- bars: ``feed.add_holes(symbol, times)``, ``feed.clear_holes()``.
- faults: ``faults.latency(0.02, path=None)``, ``faults.fail_next("rate_limit" |
  "server_error" | "timeout" | "lost", count, path="/api/v2/mix/order/place-order")``,
  ``faults.fail_randomly(0.3, kinds={"lost": 2, "timeout": 1, ...}, path=...)``,
  ``faults.gate(path, group=5)`` (hold requests until five are in flight, or ``.open()``),
  ``faults.seed(n)``, ``faults.clear()``; see ``faults`` for the semantics ("lost" =
  executed, then the response is held until the client times out, or ``lost_as=502``).
- partial fills: ``partial_fills(ratio=0.4, symbol=None, count=None)`` makes futures
  market orders fill ``ratio`` at once (``partially_filled``, in orders-pending with
  their ``baseVolume``) and the rest at the next price step; ``partial_fills(None)``
  removes the rules. See ``partials``.
- request log: ``request_log.records(path=None, method=None)`` (method, path, params,
  headers without secrets, ``start``/``end`` perf-counter seconds, status, Bitget code,
  fault, account fingerprint, demo flag), ``request_log.max_concurrency(path)``,
  ``reset_log()``.
- accounts: ``add_account(key, secret, passphrase, balance=None, spot_balance=None)``,
  ``account(key)`` (live books), ``ledger(key)`` → ``LedgerView`` (futures wallet,
  equity, available, realized PnL, fees, funding, spot balances, positions, orders,
  trigger orders, fills; ``fees()``, ``funding_for(symbol, since)``, ``futures_drift()``).

Matching: market orders fill at once at the current price (pinned price, else the close
of the last complete 1m bar) with the taker fee; limits rest and fill at their price
(maker) when a bar trades through; SL/TP and plan triggers fire when a bar reaches them
and fill at the trigger price (or the bar's open when it gapped past); preset TP/SL on
an order become ``profit_plan``/``loss_plan`` triggers for the size it opened;
``place-tpsl-order`` ``pos_profit``/``pos_loss`` close the whole position; a position's
triggers are cancelled when it closes. One-way position mode only. Funding settles at
00:00/08:00/16:00 UTC on the emulator's clock (long pays a positive rate).

Auth: Bitget's HMAC-SHA256 signature headers are checked against the registered
secret (wrong secret → 40009 → ccxt ``AuthenticationError``); unknown keys are
accepted and funded on first use unless ``restrict_keys``. See ``auth``.
"""

from aifap.exchange.emulator.bars import BarFeed, SyntheticBars
from aifap.exchange.emulator.clock import ManualClock, ReplayClock, system_clock
from aifap.exchange.emulator.emulator import BitgetEmulator
from aifap.exchange.emulator.faults import FaultInjector, FaultRule, RequestLog, RequestRecord
from aifap.exchange.emulator.ledger import LedgerView
from aifap.exchange.emulator.markets import DEFAULT_MARKETS, EmulatorMarket
from aifap.exchange.emulator.partials import PartialFillRule
from aifap.exchange.emulator.testing import bitget_client

__all__ = [
    "DEFAULT_MARKETS",
    "BarFeed",
    "BitgetEmulator",
    "EmulatorMarket",
    "FaultInjector",
    "FaultRule",
    "LedgerView",
    "ManualClock",
    "PartialFillRule",
    "ReplayClock",
    "RequestLog",
    "RequestRecord",
    "SyntheticBars",
    "bitget_client",
    "system_clock",
]
