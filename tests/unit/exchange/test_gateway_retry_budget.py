"""The exchange down past the retry budget: the gateway gives up in time, cleanly.

The "exchange" is a local socket that accepts connections and never answers, so every
attempt ends in ccxt's ``RequestTimeout`` after the (short) configured timeout. The
policy's waits go to an injected sleep that records them instead of waiting: the test
counts attempts and adds up the waits, it never measures time.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from ccxt_capture import KEY, PASSWORD, SECRET, market_row

from aifap.core.errors import RetryExhaustedError
from aifap.core.markets import MarketType
from aifap.core.orders import OrderRequest, Side, client_order_id
from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.ccxt.gateway_client import build_exchange
from aifap.exchange.ccxt.gateway_config import CcxtConfig
from aifap.exchange.ccxt.venues import quirks
from aifap.retry import RetryPolicy


class SilentExchange:
    """A TCP server on ``127.0.0.1:<free port>`` that reads requests and never replies."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.request_lines: list[str] = []
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.05)
            self._conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffered = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffered += chunk
            while b"\r\n\r\n" in buffered:  # one request head (bodies are short JSON)
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                with self._lock:
                    self.request_lines.append(head.split(b"\r\n", 1)[0].decode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._conns:
            conn.close()
        self.sock.close()

    def requests(self) -> list[str]:
        """Return ``METHOD path`` of every request received, query strings dropped."""
        with self._lock:
            lines = list(self.request_lines)
        return [" ".join(line.split(" ")[:2]).split("?", 1)[0] for line in lines]


@pytest.fixture
def silent() -> Iterator[SilentExchange]:
    server = SilentExchange()
    yield server
    server.close()


class RecordingSleep:
    """Stands in for ``time.sleep``: records each wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _gateway(url: str, policy: RetryPolicy) -> CcxtGateway:
    def factory(config: CcxtConfig) -> Any:
        exchange = build_exchange(config, quirks("bitget"))
        exchange.set_markets([market_row("bitget", False)])  # no load_markets request
        return exchange

    config = CcxtConfig(
        venue="bitget", market_type=MarketType.SPOT, api_key=KEY, secret=SECRET,
        password=PASSWORD, api_url=url, rate_limit=False, timeout_ms=150, retry=policy,
    )
    return CcxtGateway(config, exchange_factory=factory)


def _worst_case_waits(policy: RetryPolicy) -> float:
    """The most the policy may wait in total between its attempts."""
    return sum(
        min(policy.max_wait, policy.initial_wait * 2 ** (attempt - 1) + policy.jitter)
        for attempt in range(1, policy.max_attempts)
    )


def test_exchange_down_past_the_retry_budget_raises_in_time_without_a_blind_resend(
    silent: SilentExchange,
) -> None:
    sleep = RecordingSleep()
    policy = RetryPolicy(sleep=sleep)  # production waits and attempts, injected sleep
    gateway = _gateway(silent.url, policy)
    request = OrderRequest(
        client_order_id("down", 1, "BTCUSDT", "reduce"), "BTCUSDT", Side.SELL,
        Decimal("0.01"), price=Decimal(60_000), leg="reduce",
    )
    with pytest.raises(RetryExhaustedError, match="after 3 attempts") as raised:
        gateway.place_orders([request])
    gateway.close()

    assert request.client_id in str(raised.value)
    # three attempts: the order once, then two look-ups of its client id, never a re-send
    assert silent.requests() == [
        "POST /api/v2/spot/trade/place-order",
        "GET /api/v2/spot/trade/orderInfo",
        "GET /api/v2/spot/trade/orderInfo",
    ]
    # the policy's own back-off, bounded by its budget: 0.5 s + 1 s plus jitter
    assert len(sleep.waits) == policy.max_attempts - 1
    assert 1.5 <= sum(sleep.waits) <= _worst_case_waits(policy) <= 2.5
    # nothing half-recorded: no order is reported, and the client id is remembered as
    # possibly placed, so the next call looks it up before sending anything
    assert request.client_id in gateway.desk.attempted


def test_after_an_exhausted_budget_the_next_call_looks_up_before_resending(
    silent: SilentExchange,
) -> None:
    gateway = _gateway(silent.url, RetryPolicy(max_attempts=2, sleep=RecordingSleep()))
    request = OrderRequest(
        client_order_id("down", 2, "BTCUSDT", "reduce"), "BTCUSDT", Side.SELL,
        Decimal("0.01"), price=Decimal(60_000), leg="reduce",
    )
    for _ in range(2):  # the live runner's restart re-sends the same batch
        with pytest.raises(RetryExhaustedError):
            gateway.place_orders([request])
    gateway.close()
    sent = silent.requests()
    assert sent.count("POST /api/v2/spot/trade/place-order") == 1
    assert sent.count("GET /api/v2/spot/trade/orderInfo") == 3
