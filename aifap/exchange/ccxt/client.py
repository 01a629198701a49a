"""Create configured ccxt exchange objects (the one place ccxt clients are built).

Bitget gets ``options.uta = False`` explicitly (the classic v2 API): left unset, ccxt
probes the v3 UTA API once credentials are set. ``api_url`` points every API family
at one base URL, which is how tests reach the local emulator.
"""

from __future__ import annotations

from typing import Any

import ccxt

from aifap.core.markets import MarketType

SUPPORTED_VENUES = ("bitget", "binance", "bybit")


def make_exchange(
    venue: str,
    market_type: MarketType,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    password: str | None = None,
    api_url: str | None = None,
    sandbox: bool = False,
    timeout_ms: int = 10_000,
    rate_limit: bool = True,
) -> Any:
    """Return a ccxt exchange for ``venue`` trading ``market_type``.

    Raises:
        ValueError: for a venue outside ``SUPPORTED_VENUES``.
    """
    if venue not in SUPPORTED_VENUES:
        raise ValueError(f"exchange must be one of {', '.join(SUPPORTED_VENUES)}, was {venue!r}")
    options: dict[str, Any] = {
        "defaultType": "swap" if market_type is MarketType.FUTURES else "spot",
    }
    if venue == "bitget":
        options["uta"] = False
    if venue == "binance" and market_type is MarketType.FUTURES:
        options["defaultType"] = "future"
    config: dict[str, Any] = {
        "timeout": timeout_ms,
        "enableRateLimit": rate_limit,
        "options": options,
    }
    for key, value in (("apiKey", api_key), ("secret", secret), ("password", password)):
        if value:
            config[key] = value
    exchange = getattr(ccxt, venue)(config)
    if sandbox:
        exchange.set_sandbox_mode(True)
    if api_url:
        api = exchange.urls["api"]
        for key in list(api) if isinstance(api, dict) else []:
            api[key] = api_url.rstrip("/")
    return exchange
