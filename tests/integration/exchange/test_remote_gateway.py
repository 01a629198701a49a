"""The gateway service at the Bitget emulator, reached through ``RemoteGateway``.

The service (``aifap.exchange.remote.service``) runs in a uvicorn thread on a free
port with its own ccxt gateway; the emulator's request log shows what reached the
exchange. The idempotency tests run with the client-id memory on SQLite and on a real
PostgreSQL (``db_url``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifap.auth.tokens import ScopeError, TokenError, TokenExpiredError, issue_token
from aifap.core.errors import (
    ConfigError,
    OrderRejectedError,
    RetryExhaustedError,
)
from aifap.core.orders import OrderRequest, OrderStatus, Side, client_order_id
from aifap.exchange.emulator import BitgetEmulator
from aifap.exchange.emulator.server import ThreadedServer
from aifap.exchange.factories import REACHABLE, UNREACHABLE
from aifap.exchange.remote.account import load_account
from aifap.exchange.remote.client import RemoteGateway
from aifap.exchange.remote.service import create_app
from aifap.exchange.remote.store import DONE, SENT, OrderMemory
from aifap.retry import RetryPolicy

KEY = "s" * 40
FAST = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.002, jitter=0.001)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
PRIVATE = "/api/v2/mix/*"


class Service:
    """A gateway service for one emulator account, restartable on the same database."""

    def __init__(self, emu: BitgetEmulator, db_url: str, account: str = "acct-1") -> None:
        self.emu = emu
        self.account = load_account(
            {
                "account": account,
                "venue": "bitget",
                "demo": True,
                "leverage": 5,
                "exchange_url": emu.url,
                "keys": {"api_key": "svc-key", "secret": "svc-secret", "password": "svc-pass"},
                "retry": {"max_attempts": 2, "initial_wait": 0.001, "max_wait": 0.002},
            }
        )
        self.db = db_url
        self.server: ThreadedServer | None = None
        self.port = 0
        self.clients: list[RemoteGateway] = []

    def start(self) -> Service:
        self.app = create_app(self.account, self.db, key=KEY)
        self.server = ThreadedServer(self.app, port=self.port)
        self.server.start()
        self.port = self.server.port
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.app.state.service.close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway(self, token: str | None = None, **kwargs: Any) -> RemoteGateway:
        if token is None:
            token = issue_token("sess", [self.account.scope], ttl="1h", key=KEY)
        kwargs.setdefault("policy", FAST)
        client = RemoteGateway(self.url, token, timeout=10, **kwargs)
        self.clients.append(client)
        return client


@pytest.fixture
def service(make_emulator: Callable[..., BitgetEmulator], tmp_path: Path) -> Iterator[Service]:
    yield from _serve(make_emulator(), f"sqlite:///{tmp_path / 'gateway.db'}")


@pytest.fixture
def any_db_service(
    make_emulator: Callable[..., BitgetEmulator], db_url: str
) -> Iterator[Service]:
    """The service with its client-id memory on SQLite, then on PostgreSQL."""
    yield from _serve(make_emulator(), db_url)


def _serve(emu: BitgetEmulator, db_url: str) -> Iterator[Service]:
    svc = Service(emu, db_url).start()
    yield svc
    svc.stop()
    for client in svc.clients:
        client.close()


def _leg(cycle: int, symbol: str, side: Side, amount: str, leg: str = "open") -> OrderRequest:
    return OrderRequest(
        client_order_id("remote", cycle, symbol, leg),
        symbol,
        side,
        Decimal(amount),
        leg=leg,
        reduce_only=leg in ("close", "reduce"),
    )


def _orders(emu: BitgetEmulator, client_id: str) -> int:
    return sum(1 for o in emu.ledger("svc-key").orders if o.client_oid == client_id)


def test_the_remote_gateway_trades_like_the_ccxt_one(service: Service) -> None:
    emu = service.emu
    gateway = service.gateway()
    assert "BTCUSDT" in gateway.markets()
    assert gateway.balance().wallet == Decimal(10_000)
    assert gateway.links_stop_fills
    placed = gateway.place_orders(
        [_leg(1, "BTCUSDT", Side.BUY, "0.05"), _leg(1, "ETHUSDT", Side.SELL, "0.5")]
    )
    assert all(o.status in (OrderStatus.OPEN, OrderStatus.FILLED) for o in placed)
    sizes = {p.symbol: p.size for p in gateway.positions()}
    assert sizes == {"BTCUSDT": Decimal("0.05"), "ETHUSDT": Decimal("-0.5")}
    balance, positions = gateway.balance_and_positions()
    assert {p.symbol for p in positions} == {"BTCUSDT", "ETHUSDT"}
    assert balance.wallet < Decimal(10_000)  # fees
    seen = gateway.fetch_order(placed[0].client_id, "BTCUSDT")
    assert seen is not None
    assert seen.filled == Decimal("0.05")
    assert gateway.fetch_order(client_order_id("remote", 9, "BTCUSDT", "open"), "BTCUSDT") is None
    gateway.set_stops("BTCUSDT", take_profit=Decimal(90_000), stop_loss=Decimal(40_000))
    assert gateway.stops("BTCUSDT") == (Decimal(90_000), Decimal(40_000))
    fills = gateway.fills(SINCE, ["BTCUSDT", "ETHUSDT"])
    assert sorted(f.client_id for f in fills) == sorted(o.client_id for o in placed)
    assert all(isinstance(f.price, Decimal) for f in fills)
    assert gateway.funding(SINCE, ["BTCUSDT"]) == []
    prices = gateway.reference_prices(["BTCUSDT"], fresh=True)
    assert prices["BTCUSDT"] > 0
    gateway.prepare_in_background(["SOLUSDT"]).result()
    bars = gateway.ohlcv("BTCUSDT", "1m", limit=5)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.tz is not None
    gateway.close()
    assert emu.ledger("svc-key").positions  # the service's key traded, nobody else's


def test_a_resent_client_id_returns_the_first_result_even_after_a_restart(
    any_db_service: Service,
) -> None:
    service = any_db_service
    emu = service.emu
    gateway = service.gateway()
    leg = _leg(1, "BTCUSDT", Side.BUY, "0.01")
    first = gateway.place_orders([leg])
    again = gateway.place_orders([leg, _leg(1, "ETHUSDT", Side.BUY, "0.1")])
    assert again[0] == first[0]
    service.stop()
    service.start()  # same port, same database
    third = service.gateway().place_orders([leg])
    assert third[0] == first[0]
    assert _orders(emu, leg.client_id) == 1
    assert _orders(emu, again[1].client_id) == 1


def test_a_client_id_sent_before_a_crash_is_looked_up_not_resent(
    any_db_service: Service,
) -> None:
    service = any_db_service
    emu = service.emu
    leg = _leg(1, "BTCUSDT", Side.BUY, "0.01")
    service.gateway().place_orders([leg])
    memory = service.app.state.service.memory
    memory.mark_sent([leg.client_id])  # as if the service died before recording the answer
    assert memory.known([leg.client_id])[leg.client_id] == (SENT, None)
    again = service.gateway().place_orders([leg])
    assert again[0].status is OrderStatus.FILLED
    assert _orders(emu, leg.client_id) == 1
    service.stop()  # waits for the recorder thread: the answer is recorded after the response
    service.start()
    state, data = service.app.state.service.memory.known([leg.client_id])[leg.client_id]
    assert (state, data["client_id"], data["status"]) == (DONE, leg.client_id, "filled")


def test_two_requests_with_one_client_id_at_once_place_one_order(
    any_db_service: Service,
) -> None:
    service = any_db_service
    emu = service.emu
    service.gateway().markets()  # warm: both requests reach the service together
    emu.faults.latency(0.3, path="/api/v2/mix/order/place-order")  # the first is in flight
    legs = [_leg(1, "BTCUSDT", Side.BUY, "0.01"), _leg(1, "ETHUSDT", Side.BUY, "0.1")]
    clients = [service.gateway(), service.gateway()]  # two sessions, one account
    start = threading.Barrier(2)

    def send(client: RemoteGateway) -> list[Any]:
        start.wait()
        return client.place_orders(legs)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(send, clients)
    assert first == second
    assert [_orders(emu, leg.client_id) for leg in legs] == [1, 1]


def test_concurrent_claims_of_one_client_id_give_it_to_exactly_one(db_url: str) -> None:
    # two services on one database (a restart overlapping the old process, a replica)
    memories = [OrderMemory(db_url, "acct-1") for _ in range(2)]
    ids = [client_order_id("claim", 1, f"S{i}USDT", "open") for i in range(40)]
    start = threading.Barrier(4)

    def claim(n: int) -> set[str]:
        memory = memories[n % 2]
        start.wait()
        mine: set[str] = set()
        for k in range(0, len(ids), 5):  # batches of 5, as sessions send them
            batch = ids[k : k + 5]
            known = memory.claim(batch)
            assert all(state == SENT for state, _ in known.values())
            mine.update(c for c in batch if c not in known)
        return mine

    try:
        with ThreadPoolExecutor(4) as pool:
            won = list(pool.map(claim, range(4)))
        assert sorted(c for w in won for c in w) == sorted(ids)  # each id claimed once
        memories[0].record({ids[0]: {"status": "filled"}})
        assert memories[1].known([ids[0]]) == {ids[0]: (DONE, {"status": "filled"})}
        assert memories[1].claim([ids[0]]) == {ids[0]: (DONE, {"status": "filled"})}
    finally:
        for memory in memories:
            memory.close()


@pytest.mark.parametrize(
    ("token", "error", "status"),
    [
        (None, TokenError, 401),
        ("garbage", TokenError, 401),
        ("other-key", TokenError, 401),
        ("expired", TokenExpiredError, 401),
        ("other-account", ScopeError, 403),
    ],
)
def test_bad_tokens_are_refused_before_the_exchange_sees_anything(
    service: Service, token: str | None, error: type[Exception], status: int
) -> None:
    emu = service.emu
    made = {
        None: "",
        "garbage": "garbage",
        "other-key": issue_token("s", ["gateway:acct-1"], ttl="1h", key="o" * 40),
        "expired": issue_token(
            "s", ["gateway:acct-1"], ttl="1s", key=KEY, now=datetime.now(UTC) - timedelta(hours=1)
        ),
        "other-account": issue_token("s", ["gateway:acct-2"], ttl="1h", key=KEY),
    }[token]
    before = len(emu.request_log.records())
    gateway = RemoteGateway(service.url, made or None, policy=FAST, timeout=10)
    with pytest.raises(error):
        gateway.place_orders([_leg(1, "BTCUSDT", Side.BUY, "0.01")])
    with pytest.raises(error):
        gateway.positions()
    raw = httpx.post(
        f"{service.url}/v1/orders",
        json={"orders": []},
        headers={"Authorization": f"Bearer {made}"} if made else {},
    )
    assert raw.status_code == status
    assert raw.json()["error"]["type"] == error.__name__
    assert len(emu.request_log.records()) == before  # nothing reached the exchange
    gateway.close()


def test_rejections_cross_the_wire_as_the_same_class(service: Service) -> None:
    gateway = service.gateway()
    with pytest.raises(OrderRejectedError, match="NOPEUSDT: symbol must be a bitget"):
        gateway.place_orders([_leg(1, "NOPEUSDT", Side.BUY, "1")])
    huge = gateway.place_orders([_leg(2, "BTCUSDT", Side.BUY, "50")])
    assert huge[0].status is OrderStatus.REJECTED
    assert huge[0].reason


def test_an_unreachable_service_is_transient_then_exhausts_the_budget(service: Service) -> None:
    notices: list[tuple[str, str]] = []
    gateway = service.gateway(notify=lambda kind, message: notices.append((kind, message)))
    gateway.markets()
    service.stop()
    with pytest.raises(RetryExhaustedError, match="must be reachable"):
        gateway.balance()
    service.start()
    assert gateway.balance().wallet == Decimal(10_000)
    gateway.close()
    # told once when it went (not per attempt), once when it came back; no token inside
    assert [kind for kind, _ in notices] == [UNREACHABLE, REACHABLE]
    assert service.url in notices[0][1]
    assert "retrying" in notices[0][1]
    assert not any("Bearer" in message for _, message in notices)


def test_a_session_for_another_market_type_is_refused(service: Service) -> None:
    from aifap.core.markets import MarketType

    gateway = service.gateway(market_type=MarketType.SPOT)
    with pytest.raises(ConfigError, match="market must be the gateway account's"):
        gateway.info()
    gateway.close()


def test_health_ready_and_openapi(service: Service) -> None:
    assert httpx.get(f"{service.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{service.url}/ready").json()["status"] == "ready"
    paths = httpx.get(f"{service.url}/openapi.json").json()["paths"]
    assert "/v1/orders" in paths
    assert "/v1/fills" in paths
    assert set(httpx.get(f"{service.url}/stats").json()) == {"requests", "connections"}


def test_a_session_process_keeps_one_connection_to_the_service(service: Service) -> None:
    def stats() -> dict[str, int]:
        return httpx.get(f"{service.url}/stats").json()  # a connection and request of its own

    before = stats()
    gateway = service.gateway()
    gateway.info()
    gateway.markets()
    for cycle in range(1, 4):  # what a cycle asks: the account, the batches, fills, positions
        gateway.balance_and_positions()
        gateway.place_orders([_leg(cycle, "BTCUSDT", Side.BUY, "0.01")])
        gateway.fills(SINCE, ["BTCUSDT"])
        gateway.positions()
    after = stats()
    assert after["requests"] - before["requests"] == 2 + 3 * 4 + 1
    assert after["connections"] - before["connections"] == 1 + 1  # the gateway's, the /stats
    gateway.close()


# ---- a cycle's batches in one request (``place_batches``) ------------------------------

AMOUNTS = {"BTCUSDT": "0.01", "ETHUSDT": "0.1", "SOLUSDT": "1", "XRPUSDT": "20"}
PLACE = "/api/v2/mix/order/place-order"


def _batches(*cycles: int) -> list[list[OrderRequest]]:
    """One batch per cycle: a buy of each emulator market (client ids unique per cycle)."""
    return [[_leg(c, s, Side.BUY, a) for s, a in AMOUNTS.items()] for c in cycles]


def _placed(emu: BitgetEmulator) -> list[str]:
    """Return the client ids the exchange holds, in the order it got them."""
    return [o.client_oid for o in emu.ledger("svc-key").orders]


def _assert_placed_batch_by_batch(emu: BitgetEmulator, batches: list[list[OrderRequest]]) -> None:
    """Each client id reached the exchange once, batch after batch (in a batch: any order)."""
    placed = _placed(emu)
    assert len(placed) == sum(len(b) for b in batches), placed
    start = 0
    for batch in batches:
        assert set(placed[start : start + len(batch)]) == {o.client_id for o in batch}
        start += len(batch)


class _Network(httpx.BaseTransport):
    """The client's HTTP, noting each request; ``cut``: reset the first stream after a line."""

    def __init__(self, cut: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.cut = cut
        self.paths: list[str] = []
        self.bodies: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        response = self.inner.handle_request(request)
        if request.url.path != "/v1/orders/batches":
            return response
        self.bodies.append(json.loads(request.content))
        if not self.cut:
            return response
        self.cut = False
        inner = response.stream
        assert isinstance(inner, httpx.SyncByteStream)

        class Cut(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for chunk in inner:
                    yield chunk
                    raise httpx.ReadError("connection reset by peer", request=request)

            def close(self) -> None:
                inner.close()

        return httpx.Response(
            response.status_code, headers=response.headers, stream=Cut(), request=request
        )

    def close(self) -> None:
        self.inner.close()


def test_batches_in_one_request_are_sent_in_order_each_answered_as_it_comes(
    service: Service,
) -> None:
    emu = service.emu
    network = _Network()
    gateway = service.gateway(transport=network)
    gateway.info()
    batches = _batches(11, 12, 13)
    answers: list[tuple[int, list[str], int]] = []

    def acknowledged(number: int, placed: list[Any]) -> None:
        later = sum(_orders(emu, o.client_id) for o in batches[-1])
        answers.append((number, [o.client_id for o in placed], later))

    gateway.place_batches(batches, acknowledged)
    assert network.paths == ["/v1/info", "/v1/orders/batches"]
    assert [(n, ids) for n, ids, _ in answers] == [
        (n, [o.client_id for o in b]) for n, b in enumerate(batches)
    ]
    assert answers[0][2] == 0  # the first answer came before the last batch was sent
    _assert_placed_batch_by_batch(emu, batches)
    # the same batches again: the first answers, no new order
    again: list[tuple[int, list[Any]]] = []
    gateway.place_batches(batches, lambda number, placed: again.append((number, placed)))
    assert [n for n, _ in again] == [0, 1, 2]
    assert [[o.client_id for o in p] for _, p in again] == [ids for _, ids, _ in answers]
    assert len(_placed(emu)) == 12


def test_a_batch_refused_whole_ends_the_stream_before_the_batches_after_it(
    service: Service,
) -> None:
    emu = service.emu
    gateway = service.gateway()
    first, _, last = _batches(21, 22, 23)
    refused = [_leg(22, "BTCUSDT", Side.BUY, "0.01"), _leg(22, "NOPEUSDT", Side.BUY, "1")]
    answered: list[int] = []
    with pytest.raises(OrderRejectedError, match="NOPEUSDT: symbol must be a bitget"):
        gateway.place_batches([first, refused, last], lambda n, _: answered.append(n))
    assert answered == [0]
    _assert_placed_batch_by_batch(emu, [first])  # nothing of the rest


def test_a_stream_cut_mid_way_is_resumed_from_the_first_unanswered_batch(
    service: Service,
) -> None:
    emu = service.emu
    emu.faults.latency(0.1, path=PLACE)  # one line at a time
    network = _Network(cut=True)
    notices: list[str] = []
    gateway = service.gateway(transport=network, notify=lambda kind, _: notices.append(kind))
    batches = _batches(31, 32, 33)
    answered: list[int] = []
    gateway.place_batches(batches, lambda number, _: answered.append(number))
    assert answered == [0, 1, 2]  # each once
    assert [len(body["batches"]) for body in network.bodies] == [3, 2]  # the rest, resent
    assert notices == [UNREACHABLE, REACHABLE]
    _assert_placed_batch_by_batch(emu, batches)  # the batch in flight: once


def test_a_client_gone_mid_stream_stops_the_batches_after_the_one_in_flight(
    service: Service,
) -> None:
    emu = service.emu
    gateway = service.gateway()
    gateway.info()
    emu.faults.latency(0.3, path=PLACE)  # the second batch is in flight when the client goes
    first, second, third = _batches(41, 42, 43)

    def acknowledged(number: int, placed: list[Any]) -> None:
        raise RuntimeError("the session died")

    with pytest.raises(RuntimeError, match="the session died"):
        gateway.place_batches([first, second, third], acknowledged)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(_placed(emu)) < 8:
        time.sleep(0.05)
    time.sleep(1.0)  # the third batch would have reached the exchange by now
    # the second batch is in flight unless the service saw the client go first (a loaded
    # machine): either way the third is never sent
    in_flight = [first, second] if len(_placed(emu)) > len(first) else [first]
    _assert_placed_batch_by_batch(emu, in_flight)
    # a batch in flight was recorded: sent again, it answers its first result
    placed = len(_placed(emu))
    again = gateway.place_orders(second)
    assert [o.client_id for o in again] == [o.client_id for o in second]
    assert len(_placed(emu)) == (placed if len(in_flight) == 2 else placed + len(second))


# ---- the session's executor over the service: one hand-over per cycle ------------------


def _executor(service: Service, tmp_path: Path, network: _Network) -> tuple[Any, Any]:
    import multiprocessing

    from aifap.db import make_engine, migrate
    from aifap.live.clock import SessionClock
    from aifap.live.execution import Executor
    from aifap.live.journal import Journal

    url = f"sqlite:///{tmp_path / 'journal.db'}"
    migrate(url)
    journal = Journal(make_engine(url), "remote")
    journal.start_cycle(1, 0, 0)
    clock = SessionClock(multiprocessing.get_context("fork"), "wall")
    gateway = service.gateway(transport=network)
    return Executor(gateway, journal, clock, tmp_path, list(AMOUNTS)), journal


def test_the_executor_hands_a_cycles_batches_over_in_one_request(
    service: Service, tmp_path: Path
) -> None:
    from aifap.core.planner import Plan

    network = _Network()
    executor, journal = _executor(service, tmp_path, network)
    plan = Plan(orders=tuple([o for b in _batches(1, 2, 3) for o in b][:11]))  # 5, 5, 1
    executor.execute(1, plan)
    assert network.paths.count("/v1/orders/batches") == 1
    assert "/v1/orders" not in network.paths
    [body] = network.bodies
    assert [len(b) for b in body["batches"]] == [5, 5, 1]
    rows = {o.client_id: o for o in journal.orders(1)}
    assert all(rows[o.client_id].sends == 1 for o in plan.orders)
    assert all(rows[o.client_id].status == "filled" for o in plan.orders), rows
    _assert_placed_batch_by_batch(service.emu, [list(b) for b in plan.batches()])
    assert journal.cycle(1).state == "done"


def test_a_batch_refused_whole_is_sent_again_alone_to_find_the_culprit(
    service: Service, tmp_path: Path
) -> None:
    from aifap.core.planner import Plan

    network = _Network()
    executor, journal = _executor(service, tmp_path, network)
    first, second, third = _batches(1, 2, 3)
    tiny = _leg(2, "BTCUSDT", Side.BUY, "0.0001")  # rounds to 0 at BTC's step: refused whole
    batches = [[*first, third[0]], [tiny, *second[1:], third[1]], third[2:]]
    plan = Plan(orders=tuple(o for b in batches for o in b))
    assert [list(b) for b in plan.batches()] == batches
    executor.execute(1, plan)
    assert network.paths.count("/v1/orders/batches") == 1
    rows = {o.client_id: o for o in journal.orders(1)}
    assert rows[tiny.client_id].status == "rejected"
    assert "BTCUSDT" in (rows[tiny.client_id].reason or "")
    sent = [o for o in plan.orders if o is not tiny]
    assert all(rows[o.client_id].status == "filled" for o in sent), rows
    # the refused batch again one order at a time, then the last batch on its own
    alone = [[o] for o in batches[1][1:]]
    _assert_placed_batch_by_batch(service.emu, [batches[0], *alone, batches[2]])
    assert all(rows[o.client_id].sends == 1 for o in batches[0])
    assert all(rows[o.client_id].sends == 2 for o in batches[1] + batches[2])  # handed over again


def _execute_until_killed(url: str, token: str, db_url: str, workdir: Path, plan: Any) -> None:
    """Run cycle 1 of ``plan`` in this (forked) process; SIGKILLed after the first batch."""
    import multiprocessing
    import os

    from aifap.db import make_engine
    from aifap.live.clock import SessionClock
    from aifap.live.execution import Executor
    from aifap.live.journal import Journal

    os.environ["AIFAP_LIVE_KILL_AT"] = "main.between_batches@1"
    journal = Journal(make_engine(db_url), "remote")
    gateway = RemoteGateway(url, token, policy=FAST, timeout=10)
    clock = SessionClock(multiprocessing.get_context("fork"), "wall")
    Executor(gateway, journal, clock, workdir, list(AMOUNTS)).execute(1, plan)


def test_a_session_killed_between_streamed_batches_replays_with_no_order_twice(
    service: Service, tmp_path: Path
) -> None:
    import multiprocessing

    from aifap.core.planner import Plan

    network = _Network()
    executor, journal = _executor(service, tmp_path, network)
    plan = Plan(orders=tuple(o for b in _batches(1, 2, 3) for o in b))  # batches 5, 5, 2
    token = issue_token("sess", [service.account.scope], ttl="1h", key=KEY)
    child = multiprocessing.get_context("fork").Process(
        target=_execute_until_killed,
        args=(service.url, token, f"sqlite:///{tmp_path / 'journal.db'}", tmp_path, plan),
    )
    child.start()
    child.join(60)
    assert child.exitcode == -9  # killed at main.between_batches, after batch 1's answer
    rows = {o.client_id: o for o in journal.orders(1)}
    first = [o.client_id for o in plan.batches()[0]]
    assert all(rows[c].status in ("open", "filled") for c in first)
    assert all(rows[o.client_id].sends == 1 for o in plan.orders)  # all counted before
    assert journal.cycle(1).state == "executing"
    time.sleep(1.0)  # let the service finish the batch it had in flight
    executor.execute(1, plan, replay=True)  # the restart: look up, send only what never went
    rows = {o.client_id: o for o in journal.orders(1)}
    assert all(rows[o.client_id].status == "filled" for o in plan.orders), rows
    placed = _placed(service.emu)
    assert sorted(placed) == sorted(o.client_id for o in plan.orders)  # each once
    assert journal.cycle(1).state == "done"
