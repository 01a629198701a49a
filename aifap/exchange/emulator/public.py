"""Public endpoints: markets, coins, tickers, candles, funding rates, server time."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from aifap.core.markets import MarketType
from aifap.exchange.emulator.app import Call, Handler, Router
from aifap.exchange.emulator.bars import granularity_seconds
from aifap.exchange.emulator.errors import BitgetError, bad_symbol
from aifap.exchange.emulator.markets import EmulatorMarket, coin_row, contract_row, spot_row
from aifap.exchange.emulator.pricing import FUNDING_INTERVAL_MS, next_funding_ms

if TYPE_CHECKING:
    from aifap.exchange.emulator.emulator import BitgetEmulator

USDT_FUTURES = "USDT-FUTURES"
MAX_LIMIT = {"candles": 1000, "history-candles": 200}


def _fmt(value: float) -> str:
    return np.format_float_positional(value, precision=12, unique=True, trim="-")


def register_public(router: Router, emu: BitgetEmulator) -> None:
    """Register the public endpoints of ``emu`` on ``router``."""

    def market(kind: MarketType, call: Call) -> EmulatorMarket:
        symbol = str(call.require("symbol")).upper()
        found = emu.markets.get(kind, symbol)
        if found is None:
            raise bad_symbol(symbol)
        return found

    def contracts(call: Call) -> object:
        if call.require("productType").upper() != USDT_FUTURES:
            return []
        rows = [contract_row(m) for m in emu.markets.all(MarketType.FUTURES)]
        symbol = call.get("symbol")
        return [r for r in rows if symbol is None or r["symbol"] == symbol]

    def spot_symbols(call: Call) -> object:
        symbol = call.get("symbol")
        return [
            spot_row(m)
            for m in emu.markets.all(MarketType.SPOT)
            if symbol is None or m.symbol == symbol
        ]

    def coins(call: Call) -> object:
        return [coin_row(c, i) for i, c in enumerate(emu.markets.coins())]

    def ticker_row(m: EmulatorMarket, now: int) -> dict[str, object]:
        price = emu.pricing.price(m.symbol, now)
        step = m.price_step
        row: dict[str, object] = {
            "symbol": m.symbol,
            "lastPr": str(price),
            "askPr": str(price + step),
            "bidPr": str(price),
            "bidSz": "1",
            "askSz": "1",
            "high24h": str(price),
            "low24h": str(price),
            "ts": str(now),
            "change24h": "0",
            "baseVolume": "0",
            "quoteVolume": "0",
            "usdtVolume": "0",
            "openUtc": str(price),
            "changeUtc24h": "0",
            "open": str(price),
        }
        if m.is_futures:
            row.update(
                {
                    "indexPrice": str(price),
                    "markPrice": str(price),
                    "fundingRate": str(emu.pricing.funding_rate(m.symbol, next_funding_ms(now))),
                    "holdingAmount": "0",
                    "deliveryStartTime": None,
                    "deliveryTime": None,
                    "deliveryStatus": "",
                    "open24h": str(price),
                }
            )
        return row

    def mix_ticker(call: Call) -> object:
        return [ticker_row(market(MarketType.FUTURES, call), call.now_ms)]

    def mix_tickers(call: Call) -> object:
        if call.require("productType").upper() != USDT_FUTURES:
            return []
        return [ticker_row(m, call.now_ms) for m in emu.markets.all(MarketType.FUTURES)]

    def spot_tickers(call: Call) -> object:
        symbol = call.get("symbol")
        if symbol is not None:
            return [ticker_row(market(MarketType.SPOT, call), call.now_ms)]
        return [ticker_row(m, call.now_ms) for m in emu.markets.all(MarketType.SPOT)]

    def candles(kind: MarketType, endpoint: str) -> Handler:
        def handler(call: Call) -> object:
            m = market(kind, call)
            granularity = str(call.require("granularity"))
            seconds = granularity_seconds(granularity)
            if seconds is None:
                raise BitgetError(
                    "40017",
                    f"Parameter verification failed: granularity {granularity} is not supported",
                )
            limit = min(int(call.get("limit", 100)), MAX_LIMIT[endpoint])
            start = call.get("startTime")
            end = call.get("endTime")
            ts, values = emu.feed.candles(
                m.symbol,
                seconds,
                now_ms=call.now_ms,
                limit=max(limit, 1),
                start_ms=int(start) if start is not None else None,
                end_ms=int(end) if end is not None else None,
            )
            return [
                [str(int(t)), _fmt(o), _fmt(h), _fmt(lo), _fmt(c), _fmt(v), _fmt(v * c)]
                for t, (o, h, lo, c, v) in zip(ts.tolist(), values.tolist(), strict=True)
            ]

        return handler

    def current_fund_rate(call: Call) -> object:
        m = market(MarketType.FUTURES, call)
        upcoming = next_funding_ms(call.now_ms)
        return [
            {
                "symbol": m.symbol,
                "fundingRate": str(emu.pricing.funding_rate(m.symbol, upcoming)),
                "fundingRateInterval": "8",
                "nextUpdate": str(upcoming),
                "minFundingRate": "-0.003",
                "maxFundingRate": "0.003",
            }
        ]

    def history_fund_rate(call: Call) -> object:
        m = market(MarketType.FUTURES, call)
        size = min(int(call.get("pageSize", 20)), 100)
        page = max(int(call.get("pageNo", 1)), 1)
        last = (call.now_ms // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
        first = emu.funding_history_start_ms
        rows = []
        for i in range((page - 1) * size, page * size):
            settle = last - i * FUNDING_INTERVAL_MS
            if settle < first:
                break
            rows.append(
                {
                    "symbol": m.symbol,
                    "fundingTime": str(settle),
                    "fundingRate": str(emu.pricing.funding_rate(m.symbol, settle)),
                }
            )
        return rows

    def server_time(call: Call) -> object:
        return {"serverTime": str(call.now_ms)}

    def empty(call: Call) -> object:
        return []

    add = router.add
    add("GET", "/api/v2/public/time", server_time)
    add("GET", "/api/v2/spot/public/coins", coins)
    add("GET", "/api/v2/spot/public/symbols", spot_symbols)
    add("GET", "/api/v2/margin/currencies", empty)
    add("GET", "/api/v2/mix/market/contracts", contracts)
    add("GET", "/api/v2/mix/market/ticker", mix_ticker)
    add("GET", "/api/v2/mix/market/tickers", mix_tickers)
    add("GET", "/api/v2/spot/market/tickers", spot_tickers)
    add("GET", "/api/v2/mix/market/candles", candles(MarketType.FUTURES, "candles"))
    add("GET", "/api/v2/mix/market/history-candles", candles(MarketType.FUTURES, "history-candles"))
    add("GET", "/api/v2/spot/market/candles", candles(MarketType.SPOT, "candles"))
    add("GET", "/api/v2/spot/market/history-candles", candles(MarketType.SPOT, "history-candles"))
    add("GET", "/api/v2/mix/market/current-fund-rate", current_fund_rate)
    add("GET", "/api/v2/mix/market/history-fund-rate", history_fund_rate)


def decimal_str(value: Decimal) -> str:
    """Format a Decimal without exponent notation."""
    return format(value.normalize(), "f") if value else "0"
