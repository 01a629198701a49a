"""Configuration of a ccxt gateway and the shared rate limiter.

API keys live in ``SecretStr`` fields: their repr is masked, and every message and
log record that leaves the gateway passes through ``aifap.redaction.Redactor``, which
replaces the configured key, secret and passphrase wherever they appear.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from aifap.core.errors import ExchangeAuthError
from aifap.core.markets import MarketType
from aifap.retry import DEFAULT_POLICY, RetryPolicy

_KEY_PATTERN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no whitespace


class CcxtConfig(BaseModel):
    """How to reach one account on one venue.

    Attributes:
        venue: ccxt exchange id: ``bitget``, ``binance`` or ``bybit``.
        market_type: spot or USDT-margined perpetual futures.
        api_key: API key (required for anything but public data).
        secret: API secret.
        password: API passphrase (Bitget).
        demo: trade on the venue's demo / sandbox environment.
        api_url: send every request to this base URL (the local emulator).
        leverage: leverage set on every futures symbol before its first order.
        leverage_by_symbol: per-symbol leverage overriding ``leverage``.
        margin_mode: ``cross`` or ``isolated`` margin for futures.
        timeout_ms: HTTP timeout of one request.
        rate_limit: use ccxt's rate limits (shared by all threads of the gateway).
        confirm_orders: after placing a market order, fetch it to report its fill.
        price_ttl_s: how long a reference price (minimum-notional checks) stays valid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    venue: str = "bitget"
    market_type: MarketType = MarketType.FUTURES
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    demo: bool = False
    api_url: str | None = None
    leverage: int = Field(default=1, ge=1)
    leverage_by_symbol: dict[str, int] = Field(default_factory=dict)
    margin_mode: Literal["cross", "isolated"] = "cross"
    timeout_ms: int = Field(default=10_000, gt=0)
    rate_limit: bool = True
    confirm_orders: bool = True
    price_ttl_s: float = Field(default=60.0, ge=0)
    retry: RetryPolicy = DEFAULT_POLICY

    @field_validator("api_key", "secret", "password")
    @classmethod
    def _printable(cls, value: SecretStr | None) -> SecretStr | None:
        if (
            value is not None
            and value.get_secret_value()
            and not _KEY_PATTERN.match(value.get_secret_value())
        ):
            raise ValueError("must be printable ASCII without whitespace")
        return value

    def secrets(self) -> list[str]:
        """Return the configured secret values (for redaction only)."""
        values = (self.api_key, self.secret, self.password)
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def require_credentials(self, needs_password: bool) -> None:
        """Raise ``ExchangeAuthError`` naming the first missing credential."""
        required = [("api_key", self.api_key), ("secret", self.secret)]
        if needs_password:
            required.append(("password", self.password))
        for name, value in required:
            if value is None or not value.get_secret_value():
                raise ExchangeAuthError(
                    f"{name} must be set to trade on {self.venue} {self.market_type}, was missing"
                )

    def leverage_for(self, symbol: str) -> int:
        """Return the leverage configured for ``symbol``."""
        return self.leverage_by_symbol.get(symbol, self.leverage)

    @classmethod
    def for_session(cls, config: Any) -> CcxtConfig:
        """Return the settings of a demo or live session (``config``: its ``SessionConfig``).

        ``confirm_orders`` is off: a market order the exchange accepted is journaled with
        the acknowledgement, and its fills (and final state) are synced after the cycle's
        last batch instead of fetching each order again on the way.
        """
        keys = config.credentials.resolve()
        return cls(
            venue=config.exchange,
            market_type=config.market,
            api_key=keys["api_key"],
            secret=keys["secret"],
            password=keys["password"],
            demo=config.mode == "demo",
            api_url=config.exchange_url,
            leverage=config.leverage,
            confirm_orders=False,
            retry=config.retry.policy(),
        )


class SharedRateLimiter:
    """ccxt's leaky bucket, shared by the gateway's threads.

    ccxt's sync ``throttle`` spaces requests by ``rateLimit × cost`` after the previous
    one, per client. With one client per thread that spacing would be per thread; this
    limiter hands out start times from one timeline instead, under a lock.
    """

    def __init__(
        self,
        rate_limit_ms: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_limit_ms = rate_limit_ms
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last: float | None = None

    def throttle(self, cost: float | None = None) -> None:
        """Wait until this request's slot: ``rateLimit × cost`` after the previous one."""
        gap = self.rate_limit_ms * (1.0 if cost is None else float(cost)) / 1000.0
        with self._lock:
            now = self._clock()
            start = now if self._last is None else max(now, self._last + gap)
            self._last = start
        if start > now:
            self._sleep(start - now)
