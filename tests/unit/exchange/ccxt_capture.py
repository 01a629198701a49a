"""Capture the HTTP requests ccxt builds for the gateway, without a network.

``fetch`` (ccxt's HTTP edge) is replaced: it records method, URL, headers and body,
then raises ``ccxt.ExchangeError`` (not retried), so nothing ever leaves the process.
Markets are set by hand with each venue's fields that ccxt's request builders read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt

from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.ccxt.gateway_client import build_exchange
from aifap.exchange.ccxt.gateway_config import CcxtConfig
from aifap.exchange.ccxt.venues import quirks

KEY, SECRET, PASSWORD = "ak-CAPTUREkey0001", "sk-CAPTUREsecret0002", "pp-CAPTUREpass0003"

BINANCE_FUTURES_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                         "TAKE_PROFIT_MARKET"]


def market_row(venue: str, futures: bool) -> dict[str, Any]:
    market: dict[str, Any] = {
        "id": "BTCUSDT", "symbol": "BTC/USDT:USDT" if futures else "BTC/USDT",
        "base": "BTC", "quote": "USDT", "settle": "USDT" if futures else None,
        "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT" if futures else None,
        "type": "swap" if futures else "spot", "spot": not futures, "margin": False,
        "swap": futures, "future": False, "option": False, "contract": futures,
        "linear": True if futures else None, "inverse": False if futures else None,
        "active": True, "contractSize": 1 if futures else None,
        "precision": {"amount": 0.001 if futures else 0.000001, "price": 0.1},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 5},
                   "leverage": {"max": 125 if futures else None}},
        "info": {},
    }
    if venue == "binance":
        market["info"] = {"orderTypes": BINANCE_FUTURES_TYPES if futures
                          else ["LIMIT", "MARKET", "STOP_LOSS", "TAKE_PROFIT"]}
    return market


@dataclass
class Captured:
    """One request ccxt tried to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def params(self) -> dict[str, Any]:
        """Return the JSON body, or the form body / query string as a dict."""
        if self.body and self.body.startswith("{"):
            return dict(json.loads(self.body))
        text = self.body or urlsplit(self.url).query
        return dict(parse_qsl(text))


@dataclass
class Capture:
    """A gateway whose ccxt clients record requests instead of sending them."""

    gateway: CcxtGateway
    requests: list[Captured] = field(default_factory=list)


def capture_gateway(venue: str, futures: bool = True, **fields: Any) -> Capture:
    """Return a gateway for ``venue`` whose clients capture every request."""
    from aifap.core.markets import MarketType

    requests: list[Captured] = []

    def factory(config: CcxtConfig) -> Any:
        exchange = build_exchange(config, quirks(venue))
        exchange.set_markets([market_row(venue, futures)])

        def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            requests.append(Captured(method, url, dict(headers or {}), body))
            raise ccxt.ExchangeError("captured, not sent")

        exchange.fetch = fetch
        return exchange

    settings: dict[str, Any] = {"api_key": KEY, "secret": SECRET, "password": PASSWORD,
                                "rate_limit": False, **fields}
    config = CcxtConfig(
        venue=venue, market_type=MarketType.FUTURES if futures else MarketType.SPOT, **settings
    )
    gateway = CcxtGateway(config, exchange_factory=factory)
    return Capture(gateway, requests)
