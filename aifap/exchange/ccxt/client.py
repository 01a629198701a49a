"""Create configured ccxt exchange objects (the one place ccxt clients are built).

What differs per venue (ccxt options, the futures ``defaultType``) comes from its
quirks table (``aifap.exchange.ccxt.venues``). ``api_url`` points every API family at
one base URL, which is how tests reach the local emulator.
"""

from __future__ import annotations

from typing import Any

import ccxt

from aifap.core.markets import MarketType
from aifap.exchange.ccxt.venues import quirks


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
        UnknownPluginError: no quirks table is registered for ``venue`` (the message
            lists the known venues).
    """
    table = quirks(venue)
    options: dict[str, Any] = {
        **table.ccxt_options,
        "defaultType": table.futures_type if market_type is MarketType.FUTURES else "spot",
    }
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
