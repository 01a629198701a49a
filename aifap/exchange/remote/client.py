"""``RemoteGateway``: the ``Gateway`` protocol over the gateway service (httpx).

A session configured ``exchange: remote`` with a ``gateway_url`` and a token trades
through the service that holds its account's keys; the session never sees them.
Everything else is the in-process ccxt gateway's behaviour, served by the service:
``balance_and_positions``, ``prepare_in_background``, ``reference_prices`` (spot buys
clipped to the free quote), ``links_stop_fills`` (the venue's stop-fill linking).

Failures to reach the service (connection refused or reset, timeouts, a proxy's
502/503/504) raise ``TransientGatewayError`` and are retried under the session's
``RetryPolicy``; the first failure and the first answer after it are logged and told
to ``notify`` (the session alerts). Every request is safe to repeat, orders included,
since the service answers a known client id with its first result. Errors the service
answers come back as the same class (``OrderRejectedError`` with its reason, ``RetryExhaustedError``
when the service's own budget against the exchange ran out: not retried again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from aifap.core.errors import ConfigError, TransientGatewayError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, Order, OrderRequest
from aifap.core.portfolio import Position
from aifap.exchange.factories import REACHABLE, UNREACHABLE
from aifap.exchange.gateway import Balance, FundingPayment
from aifap.exchange.remote import wire
from aifap.retry import DEFAULT_POLICY, RetryPolicy

log = logging.getLogger(__name__)

API = "/v1"
TRANSIENT_STATUS = (502, 503, 504)
JSON_BODY = {"Content-Type": "application/json"}


class _Account(TypedDict):
    """What ``/account`` answers."""

    balance: Balance
    positions: list[Position]


class _BatchLine(TypedDict, total=False):
    """One line of ``/orders/batches``: a batch's orders (and the service's stages), or an error."""

    orders: list[Order]
    timing: str
    error: dict[str, Any]


_Batches = dict[str, list[list[OrderRequest]]]


# the types this client reads and sends (their parsers are built once the service answers)
WIRE_TYPES: tuple[Any, ...] = (
    Any,
    dict[str, Any],
    _Account,
    Balance,
    list[Position],
    list[Order],
    Order | None,
    dict[str, list[OrderRequest]],
    _Batches,
    _BatchLine,
    dict[str, MarketSpec],
    dict[str, Decimal],
    tuple[Decimal | None, Decimal | None],
    list[Fill],
    list[FundingPayment],
)


class RemoteGateway:
    """One account, reached through its gateway service.

    Args:
        url: the service's base URL (``http://gateway-acct-1:8920``).
        token: a token scoped ``gateway:ACCOUNT`` (``aifap admin token``).
        market_type: the session's market type (checked against the service's).
        policy: the retry budget for reaching the service.
        timeout: seconds to wait for one answer (the service retries the exchange
            within it).
        name: the gateway's name in messages.
        demo: the session's mode is demo (True) or live (False), checked against the
            account's; None: not checked.
        notify: called ``notify(kind, message)`` when the service stops answering
            (``UNREACHABLE``) and when it answers again (``REACHABLE``); it must not raise.
        transport: an httpx transport (tests).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        market_type: MarketType = MarketType.FUTURES,
        policy: RetryPolicy = DEFAULT_POLICY,
        timeout: float = 120.0,
        name: str = "remote",
        demo: bool | None = None,
        notify: Callable[[str, str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"gateway_url must be an http(s) URL, was {url!r}")
        self.url = url.rstrip("/")
        self.name = name
        self.market_type = market_type
        self.policy = policy
        self.demo = demo
        self.notify = notify
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(keepalive_expiry=wire.CLIENT_IDLE_SECONDS),
            transport=transport,
        )
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._info: dict[str, Any] | None = None
        self._specs: dict[str, MarketSpec] | None = None
        self._down = False
        self._down_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteGateway({self.url} {self.market_type})"

    # ---- transport -------------------------------------------------------------------

    def _once(self, method: str, path: str, tp: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        self._reachable(True)
        _trace(method, path, began, response.headers.get("server-timing", "-"))
        if response.status_code >= 400:
            raise _error(response)
        return wire.load_json(tp, response.content)  # parsed and checked in one step

    def _unreachable(self, exc: httpx.TransportError) -> TransientGatewayError:
        """Note that the service could not be reached; return the error to raise."""
        self._reachable(False, type(exc).__name__)
        return TransientGatewayError(
            f"gateway service at {self.url} must be reachable, was not: {type(exc).__name__}: {exc}"
        )

    def _reachable(self, up: bool, cause: str = "") -> None:
        """Log and notify a change between reachable and unreachable (once per change)."""
        if up != self._down:
            return
        with self._down_lock:
            if up != self._down:
                return
            self._down = not up
        if up:
            kind, message = REACHABLE, f"gateway service at {self.url} reachable again"
        else:
            kind = UNREACHABLE
            message = (
                f"gateway service at {self.url} unreachable; retrying within the retry budget "
                f"({self.policy.max_attempts} attempts)"
            )
        log.warning("%s (%s)", message, cause) if cause else log.warning("%s", message)
        if self.notify is not None:
            try:
                self.notify(kind, message)
            except Exception:  # an alert that fails must not fail the order
                log.exception("notifying %s failed", kind)

    def _call(self, method: str, path: str, tp: Any = Any, **kwargs: Any) -> Any:
        """Return the service's answer to one request as a ``tp``, retried under the policy."""
        what = f"gateway {method} {path.split('?')[0]}"

        def once() -> Any:
            return self._once(method, path, tp, **kwargs)

        once.__qualname__ = what
        return self.policy.call(once)

    # ---- what the session knows about the venue ---------------------------------------

    def info(self) -> dict[str, Any]:
        """Return the service's account description (venue, market type, quirks)."""
        with self._lock:
            if self._info is None:
                info: dict[str, Any] = self._call("GET", "/info", dict[str, Any])
                if info.get("market_type") != self.market_type.value:
                    raise ConfigError(
                        f"market must be the gateway account's ({info.get('market_type')}), "
                        f"was {self.market_type.value}"
                    )
                if self.demo is not None and bool(info.get("demo")) != self.demo:
                    raise ConfigError(
                        f"mode must match the gateway account's "
                        f"({'demo' if info.get('demo') else 'live'}), "
                        f"was {'demo' if self.demo else 'live'}"
                    )
                self._info = info
            return self._info

    @classmethod
    def for_session(
        cls, config: Any, notify: Callable[[str, str], None] | None = None
    ) -> RemoteGateway:
        """Return the gateway of a session (``config``: its ``SessionConfig``).

        The service's account must have the session's market type and mode (checked
        now, before any order); the wire's parsers are built now too (ms each the first
        time), not in the first cycle.
        """
        if not config.gateway_url:
            raise ConfigError("gateway_url must be set with exchange 'remote', was missing")
        gateway = cls(
            config.gateway_url,
            config.gateway_token_value(),
            market_type=config.market,
            policy=config.retry.policy(),
            demo=config.mode == "demo",
            notify=notify,
        )
        gateway.info()
        wire.warm(WIRE_TYPES)
        return gateway

    @property
    def links_stop_fills(self) -> bool:
        """Tell whether ``fills`` marks the executions of our SL/TP exactly (the venue's)."""
        return bool(self.info().get("links_stop_fills"))

    # ---- the Gateway protocol --------------------------------------------------------

    def markets(self) -> dict[str, MarketSpec]:
        """Return the tradable markets by compact symbol (read once)."""
        if self._specs is None:
            self._specs = self._call("GET", "/markets", dict[str, MarketSpec])
        return self._specs

    def balance(self) -> Balance:
        """Return the wallet balance in the quote currency."""
        result: Balance = self._call("GET", "/balance", Balance)
        return result

    def positions(self) -> list[Position]:
        """Return open positions."""
        result: list[Position] = self._call("GET", "/positions", list[Position])
        return result

    def balance_and_positions(self) -> tuple[Balance, list[Position]]:
        """Return ``balance()`` and ``positions()`` in one round trip."""
        data = self._call("GET", "/account", _Account)
        return data["balance"], data["positions"]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return open orders, for one symbol or all."""
        params = {} if symbol is None else {"symbol": symbol}
        result: list[Order] = self._call("GET", "/orders/open", list[Order], params=params)
        return result

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id``, or None if the exchange never saw it."""
        found: Order | None = self._call(
            "GET", f"/orders/{client_id}", Order | None, params={"symbol": symbol}
        )
        return found

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        """Send up to 5 orders; a re-send after a lost answer returns the first result."""
        if not batch:
            return []
        body = wire.dump_json({"orders": list(batch)}, dict[str, list[OrderRequest]])
        result: list[Order] = self._call(
            "POST", "/orders", list[Order], content=body, headers=JSON_BODY
        )
        return result

    def place_batches(
        self,
        batches: Sequence[Sequence[OrderRequest]],
        acknowledged: Callable[[int, list[Order]], None],
    ) -> None:
        """Place ``batches`` in order in one request; call ``acknowledged(i, orders)`` per batch.

        The service sends batch ``i + 1`` once batch ``i`` is answered and streams each
        answer back as it comes (``POST /orders/batches``): one round trip for a cycle's
        orders, not one per batch. ``acknowledged`` runs as each answer arrives, while
        the service sends the next batch. A failure to reach the service (before or
        mid-stream) is retried under the policy with the batches not yet acknowledged
        (the one in flight answers its first result). A batch's error (a rejection of
        the whole batch, the service's own budget spent) is raised once the batches
        before it were acknowledged; the ones after it were not sent. A service without
        the route (``info()["streams_batches"]`` false): one ``place_orders`` per batch.
        """
        pending = [(number, list(batch)) for number, batch in enumerate(batches) if batch]
        if not self.info().get("streams_batches"):
            for number, batch in pending:
                acknowledged(number, self.place_orders(batch))
            return
        path = "/orders/batches"

        def once() -> None:
            body = wire.dump_json({"batches": [batch for _, batch in pending]}, _Batches)
            began = time.perf_counter()
            try:
                with self._http.stream(
                    "POST", API + path, content=body, headers=JSON_BODY
                ) as response:
                    self._reachable(True)
                    if response.status_code >= 400:
                        response.read()
                        raise _error(response)
                    for text in response.iter_lines():
                        if not text:
                            continue
                        answer: _BatchLine = wire.load_json(_BatchLine, text)
                        if "error" in answer:
                            raise wire.error_from(answer, response.status_code)
                        number, _ = pending.pop(0)
                        _trace("POST", f"{path}#{number}", began, answer.get("timing", "-"))
                        began = time.perf_counter()
                        acknowledged(number, answer["orders"])
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from exc
            if pending:  # the service ended the stream early: send the rest again
                raise TransientGatewayError(
                    f"gateway service at {self.url} must answer every batch, "
                    f"{len(pending)} were not answered"
                )

        once.__qualname__ = f"gateway POST {path}"
        self.policy.call(once)

    def cancel(
        self, symbol: str, *, client_id: str | None = None, order_id: str | None = None
    ) -> None:
        """Cancel one order by client id or exchange id."""
        if client_id is None and order_id is None:
            raise ValueError("cancel needs client_id or order_id, was neither")
        body = {"symbol": symbol, "client_id": client_id, "order_id": order_id}
        self._call("POST", "/orders/cancel", json=body)

    def set_stops(
        self, symbol: str, *, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Set or replace the SL/TP covering the whole position in ``symbol``."""
        body = {
            "symbol": symbol,
            "take_profit": None if take_profit is None else format(take_profit, "f"),
            "stop_loss": None if stop_loss is None else format(stop_loss, "f"),
        }
        self._call("POST", "/stops", json=body)

    def stops(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Return the (take profit, stop loss) covering the position in ``symbol``."""
        take_profit, stop_loss = self._call(
            "GET", f"/stops/{symbol}", tuple[Decimal | None, Decimal | None]
        )
        return take_profit, stop_loss

    def fills(self, since: datetime, symbols: Sequence[str] | None = None) -> list[Fill]:
        """Return executions at or after ``since``, oldest first."""
        if symbols is not None and not symbols:
            return []
        params = _history_params(since, symbols)
        result: list[Fill] = self._call("GET", "/fills", list[Fill], params=params)
        return result

    def funding(
        self, since: datetime, symbols: Sequence[str] | None = None
    ) -> list[FundingPayment]:
        """Return funding settlements at or after ``since``, oldest first."""
        if symbols is not None and not symbols:
            return []
        params = _history_params(since, symbols)
        result: list[FundingPayment] = self._call(
            "GET", "/funding", list[FundingPayment], params=params
        )
        return result

    def ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return completed bars in the ``aifap.core.bars`` frame format."""
        params: dict[str, Any] = {"timeframe": timeframe}
        if since is not None:
            params["since"] = since.isoformat()
        if limit is not None:
            params["limit"] = limit
        return wire.load_bars(self._call("GET", f"/ohlcv/{symbol}", params=params))

    # ---- what the session's executor uses when present ----------------------------------

    def prepare(self, symbols: Sequence[str]) -> None:
        """Have the service set margin mode and leverage of ``symbols`` and price them."""
        if symbols:
            self._call("POST", "/prepare", json={"symbols": list(symbols)})

    def prepare_in_background(self, symbols: Sequence[str]) -> Future[None]:
        """Start ``prepare(symbols)`` on a thread; errors come out of ``future.result()``."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="remote-gateway")
            executor = self._executor
        return executor.submit(self.prepare, list(symbols))

    def reference_prices(
        self, symbols: Sequence[str], *, fresh: bool = False
    ) -> dict[str, Decimal]:
        """Return the last prices the service checks orders at (``fresh``: ask now)."""
        body = {"symbols": list(symbols), "fresh": fresh}
        prices: dict[str, Decimal] = self._call("POST", "/prices", dict[str, Decimal], json=body)
        return prices

    def close(self) -> None:
        """Close the HTTP connections and the background thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._http.close()


def _trace(method: str, path: str, began: float, stages: str) -> None:
    """Log one answer at DEBUG: its round trip, start and end, and the service's stages."""
    if log.isEnabledFor(logging.DEBUG):
        ended = time.perf_counter()
        log.debug(
            "%s %s: %.1f ms (%.4f-%.4f); service %s",
            method, path, (ended - began) * 1000, began, ended, stages,
        )  # fmt: skip


def _error(response: httpx.Response) -> BaseException:
    """Return the exception an error answer of the service describes (same class)."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return wire.error_from(body, response.status_code)


def _history_params(since: datetime, symbols: Sequence[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"since": since.isoformat()}
    if symbols is not None:
        params["symbols"] = list(symbols)
    return params
