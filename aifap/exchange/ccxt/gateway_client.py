"""ccxt clients for one gateway: one per thread, shared markets, limiter and redaction.

ccxt's sync client keeps a ``requests.Session`` and per-request state, so each worker
thread gets its own client; they share the loaded markets, one ``SharedRateLimiter``
and the secret redaction of log records (ccxt logs request headers at DEBUG).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import ccxt

from aifap.core.errors import GatewayError
from aifap.exchange.ccxt.client import make_exchange
from aifap.exchange.ccxt.errors import map_ccxt_error
from aifap.exchange.ccxt.gateway_config import CcxtConfig, SharedRateLimiter
from aifap.exchange.ccxt.venues import VenueQuirks
from aifap.redaction import Redactor, redact_record

log = logging.getLogger(__name__)
WIRE_LOGGER = logging.getLogger("aifap.exchange.ccxt.http")

T = TypeVar("T")


class _SecretFilter(logging.Filter):
    """Redact the secrets of every live gateway from ccxt's own log records."""

    def __init__(self) -> None:
        super().__init__()
        self._redactors: dict[int, Redactor] = {}
        self._lock = threading.Lock()

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors[id(redactor)] = redactor

    def remove(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.pop(id(redactor), None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            redactors = list(self._redactors.values())
        for redactor in redactors:
            redact_record(record, redactor)
        return True


SECRET_FILTER = _SecretFilter()
WIRE_LOGGER.addFilter(SECRET_FILTER)


def build_exchange(config: CcxtConfig, quirks: VenueQuirks) -> Any:
    """Return a configured ccxt exchange for ``config`` (demo mode and URL applied)."""
    exchange = make_exchange(
        config.venue,
        config.market_type,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        secret=config.secret.get_secret_value() if config.secret else None,
        password=config.password.get_secret_value() if config.password else None,
        api_url=None,
        sandbox=config.demo and quirks.demo == "sandbox",
        timeout_ms=config.timeout_ms,
        rate_limit=config.rate_limit,
    )
    if config.demo and quirks.demo == "demo":
        exchange.enable_demo_trading(True)
    if config.api_url:
        api = exchange.urls["api"]
        for key in list(api) if isinstance(api, dict) else []:
            api[key] = config.api_url.rstrip("/")
    return exchange


class ClientPool:
    """Thread-local ccxt clients of one account, plus the error mapping around calls.

    Args:
        config: the gateway configuration.
        quirks: the venue's quirks table.
        factory: builds a ccxt exchange from the config (tests inject one that records
            or fakes requests); defaults to ``make_exchange``.
    """

    def __init__(
        self,
        config: CcxtConfig,
        quirks: VenueQuirks,
        factory: Callable[[CcxtConfig], Any] | None = None,
    ) -> None:
        self.config = config
        self.quirks = quirks
        self.redact = Redactor(config.secrets(), min_length=1)
        SECRET_FILTER.add(self.redact)
        self._factory = factory or (lambda cfg: build_exchange(cfg, quirks))
        self._local = threading.local()
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self.main = self._new_client()
        self.limiter = SharedRateLimiter(float(self.main.rateLimit))
        self._install(self.main)

    def _new_client(self) -> Any:
        client = self._factory(self.config)
        client.logger = WIRE_LOGGER
        with self._lock:
            self._clients.append(client)
        return client

    def _install(self, client: Any) -> None:
        client.throttle = self.limiter.throttle

    def client(self) -> Any:
        """Return this thread's client (the main one on the creating thread)."""
        current = getattr(self._local, "client", None)
        if current is not None:
            return current
        if threading.current_thread() is threading.main_thread() or not self.main.markets:
            self._local.client = self.main
            return self.main
        client = self._new_client()
        client.set_markets(list(self.main.markets.values()), self.main.currencies)
        self._install(client)
        self._local.client = client
        return client

    def warm(self, executor: Executor, workers: int) -> None:
        """Give each of the executor's ``workers`` threads its client now, not mid-batch.

        Building a client copies the loaded markets (thousands on a real venue); done
        here, from ``prepare``, the first batch's requests all leave at once. The
        tasks wait on a barrier, so each runs on a different thread.
        """
        if not self.main.markets:
            return
        barrier = threading.Barrier(workers)

        def build() -> None:
            self.client()
            # fewer threads than workers: the barrier breaks, the rest warm on first use
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5.0)

        for future in [executor.submit(build) for _ in range(workers)]:
            future.result()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a ccxt method on this thread's client; raise AIFAP errors, redacted.

        The ccxt exception is not chained (``from None``): its text and traceback
        locals may quote request details, so only the redacted message leaves.
        """
        try:
            return getattr(self.client(), method)(*args, **kwargs)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, self.redact) from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            # ccxt parsing an unexpected response: not retryable, but not ours either
            raise GatewayError(self.redact(f"{method}: {type(exc).__name__}: {exc}")) from None

    def lookup(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Like ``call``, but return None when the exchange says the order does not exist."""
        try:
            return getattr(self.client(), method)(*args, **kwargs)
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            mapped = map_ccxt_error(exc, self.redact)
            if self.error_code(mapped) in self.quirks.order_not_found_codes:
                return None
            raise mapped from None

    def error_code(self, error: GatewayError) -> str | None:
        """Return the exchange's error code quoted in a mapped error message, if any."""
        text = str(error)
        for code in (*self.quirks.order_not_found_codes, *self.quirks.duplicate_client_id_codes):
            if f'"{code}"' in text or f"code={code}" in text or f":{code}" in text:
                return code
        return None

    def close(self) -> None:
        """Close every client's HTTP session and stop redacting for this gateway."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            session = getattr(client, "session", None)
            if session is not None:
                session.close()
        SECRET_FILTER.remove(self.redact)
