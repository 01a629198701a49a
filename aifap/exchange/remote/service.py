"""The gateway service (``aifap serve gateway``, the seed's BitgetTrader): one account's exchange.

The only process that holds the account's keys. It owns the account's ccxt clients
(one :class:`~aifap.exchange.ccxt.gateway.CcxtGateway`), hence the one rate limiter the
venue applies per account, shared by every session trading it; it sets position and
margin mode; and it never places a client id twice: :class:`GatewayService` remembers
each client id it sent (:mod:`aifap.exchange.remote.store`), so a re-sent order gets
the first answer back.

:func:`gateway_router` is the ``APIRouter`` (every route under ``/v1`` needs a token
scoped ``gateway:ACCOUNT``: 401 without a valid one, 403 for another account, and
nothing reaches the exchange then); :func:`create_app` adds ``/health``, ``/ready`` and
``/stats`` (requests and the TCP connections they came on).
``POST /v1/orders/batches`` takes a cycle's batches in one request and places them one
after the other, each once the one before is acknowledged, streaming each batch's
answer back as one NDJSON line (:func:`stream_batches`): a session pays one HTTP round
trip per cycle for its orders instead of one per batch of 5.
Errors answer ``{"error": {"type", "message", "fields"}}`` (:mod:`.wire`), which
``RemoteGateway`` raises again as the same class.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from aifap.auth.tokens import TokenClaims, TokenVerifier, bearer, secret_key
from aifap.core.errors import AifapError, GatewayError
from aifap.core.markets import MarketSpec
from aifap.core.orders import Fill, Order, OrderRequest
from aifap.core.portfolio import Position
from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.gateway import BATCH_SIZE, Balance, FundingPayment
from aifap.exchange.remote import wire
from aifap.exchange.remote.account import AccountConfig
from aifap.exchange.remote.store import DONE, SENT, OrderMemory

log = logging.getLogger(__name__)

T = TypeVar("T")

API = "/v1"
MAX_BATCHES = 100  # batches of one ``/orders/batches`` request (a cycle of 500 orders)
WORKERS = 8  # threads (each with its own ccxt client) serving requests to the exchange


class Stages:
    """Seconds one request spent per stage, answered as its ``Server-Timing`` header."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more in stage ``name``."""
        with self._lock:
            self.spent[name] = self.spent.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Count the time of the ``with`` block in stage ``name``."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - began)

    def header(self) -> str:
        """Return the ``Server-Timing`` value: each stage and the total, in ms."""
        rows = dict(self.spent, total=time.perf_counter() - self.start)
        return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in rows.items())


_stages: contextvars.ContextVar[Stages | None] = contextvars.ContextVar("stages", default=None)


def stage(name: str) -> contextlib.AbstractContextManager[None]:
    """Count the ``with`` block in the current request's stage ``name`` (none: not timed)."""
    current = _stages.get()
    return contextlib.nullcontext() if current is None else current.stage(name)


class GatewayService:
    """One account's gateway behind the service, with idempotent order placement.

    Args:
        account: the account's settings (keys resolved here, never sent anywhere).
        database_url: where the client-id memory lives.
        gateway: the ccxt gateway to use (default: built from ``account``).
    """

    def __init__(
        self, account: AccountConfig, database_url: str, gateway: CcxtGateway | None = None
    ) -> None:
        self.account = account
        self.gateway = gateway if gateway is not None else CcxtGateway(account.ccxt_config())
        self.memory = OrderMemory(database_url, account.account)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # exchange calls run here, not on the web server's threads: a bounded set of
        # threads whose ccxt clients are built once (``warm``), never per request thread
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"gw-{account.account}")
        self._warm = False
        # answers are recorded here, after the response: one thread, in order
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix=f"gw-{account.account}-db")

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``fn(*args, **kwargs)`` run on one of the service's exchange threads.

        The wait for a free thread counts as the request's ``queue`` stage, the call as
        ``run`` (its own stages, such as ``db`` and ``exchange``, are inside it).
        """
        return self._submit(fn, *args, **kwargs).result()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` run on an exchange thread (see :meth:`run`).

        The request's coroutine waits on the event loop: one hand-off to the exchange
        thread and one back, not through the web server's thread pool as well.
        """
        return await asyncio.wrap_future(self._submit(fn, *args, **kwargs))

    def _submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        submitted = time.perf_counter()

        def timed() -> T:
            began = time.perf_counter()
            current = _stages.get()
            if current is None:
                return fn(*args, **kwargs)
            current.add("queue", began - submitted)
            try:
                return fn(*args, **kwargs)
            finally:
                current.add("run", time.perf_counter() - began)

        return self.executor.submit(context.run, timed)

    def warm(self) -> int:
        """Load the markets and build every exchange thread's client; return the market count.

        Also builds the answers' encoders (``SERVED``), which cost ms each the first time:
        a fresh service's first ``/account`` spent ~20 ms encoding an empty account.
        """
        count = len(self.gateway.markets())
        if not self._warm:
            wire.warm(SERVED)
            self.memory.warm(BATCH_SIZE)  # connection, statements and write path of a batch
            self.gateway.pool.warm(self.executor, WORKERS)
            self.gateway.prepare([])  # the gateway's own order threads
            self._warm = True
        return count

    def info(self) -> dict[str, Any]:
        """Return what a session needs to know about the account's venue."""
        return {
            "account": self.account.account,
            "venue": self.account.venue,
            "market_type": self.account.market.value,
            "demo": self.account.demo,
            "links_stop_fills": bool(self.gateway.links_stop_fills),
            "spot_buys_clipped": True,  # reference_prices is served
            "batch_size": BATCH_SIZE,
            "streams_batches": True,  # POST /orders/batches
        }

    def _hold(self, client_ids: Sequence[str]) -> list[threading.Lock]:
        """Hold the client ids: a concurrent re-send of one waits for the first answer."""
        with self._guard:
            locks = [self._locks.setdefault(c, threading.Lock()) for c in sorted(set(client_ids))]
        for lock in locks:
            lock.acquire()
        return locks

    def place_orders(
        self,
        batch: Sequence[OrderRequest],
        *,
        answered: Callable[[list[Order]], None] | None = None,
    ) -> list[Order]:
        """Place the batch's new client ids; answer known ones with their first result.

        One commit before sending records every new client id ``sent``. A client id
        left ``sent`` without a result (the service died mid-request) is looked up at
        the exchange first and sent only if the exchange never saw it. The answers are
        recorded after the response (one commit on the recorder thread); the client ids
        stay held until then, so a re-send waits for them. ``answered``: called with the
        orders first, then this thread records them itself (a stream's next batch
        follows on this thread: its claim does not meet the recorder's commit).
        """
        ids = [r.client_id for r in batch]
        if len(set(ids)) != len(ids):
            raise ValueError(f"client ids must be unique in a batch, were {ids}")
        locks = self._hold(ids)
        answers: dict[str, Any] = {}
        try:
            with stage("db"):
                known = self.memory.claim(ids)  # new ids are now durably ``sent``
            results: dict[str, Order] = {}
            found: dict[str, Any] = {}
            fresh: list[OrderRequest] = []
            for request in batch:
                state, data = known.get(request.client_id, (None, None))
                if state == DONE and data is not None:
                    results[request.client_id] = wire.load(Order, data)
                    continue
                if state == SENT:
                    seen = self.gateway.fetch_order(request.client_id, request.symbol)
                    if seen is not None:
                        results[request.client_id] = seen
                        found[request.client_id] = wire.dump(seen, Order)
                        continue
                fresh.append(request)
            answers.update(found)
            if fresh:
                with stage("exchange"):
                    placed = self.gateway.place_orders(fresh)
                answers.update(
                    {r.client_id: wire.dump(o, Order) for r, o in zip(fresh, placed, strict=True)}
                )
                results.update({r.client_id: o for r, o in zip(fresh, placed, strict=True)})
            if known:
                log.info(
                    "%s: %d of %d orders answered from memory",
                    self.account.account,
                    len(batch) - len(fresh),
                    len(batch),
                )
        except BaseException:
            self._record(answers, locks)  # what was found; the rest stays ``sent``
            raise
        out = [results[c] for c in ids]
        if answered is None:
            self._recorder.submit(self._record, answers, locks)
            return out
        try:
            answered(out)
        finally:
            self._record(answers, locks)
        return out

    def _record(self, answers: dict[str, Any], locks: list[threading.Lock]) -> None:
        """Record ``answers`` (one commit), then let go of the client ids."""
        try:
            self.memory.record(answers)
        except Exception:  # the ids stay ``sent``: a re-send looks them up at the exchange
            log.exception("%s: recording %d answers failed", self.account.account, len(answers))
        finally:
            for lock in reversed(locks):
                lock.release()

    def close(self) -> None:
        """Release the gateway's clients and threads."""
        self.executor.shutdown(wait=True)
        self._recorder.shutdown(wait=True)
        self.memory.close()
        self.gateway.close()


# ---- HTTP --------------------------------------------------------------------------------


class GatewayRoute(APIRoute):
    """A route whose AIFAP errors answer the wire's error body with their status.

    Set per router (not as app handlers) so the mapping travels into any app mounting it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the error map."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            stages = Stages()
            token = _stages.set(stages)
            try:
                response = await handler(request)
            except (AifapError, ValueError) as exc:
                status = wire.status_of(exc)
                if status >= 500:
                    log.warning("%s %s: %s", request.method, request.url.path, type(exc).__name__)
                response = json_response(wire.error_body(exc), status)
            finally:
                _stages.reset(token)
            response.headers["Server-Timing"] = stages.header()
            return response

        return guarded


def json_response(data: Any, status: int = 200, tp: Any = Any) -> Response:
    """Return ``data`` (of type ``tp``; default: JSON-ready data) as a JSON response."""
    with stage("encode"):
        body = wire.dump_json(data, tp)
    return Response(body, status_code=status, media_type="application/json")


class AccountOut(TypedDict):
    """What ``/account`` answers."""

    balance: Balance
    positions: list[Position]


class OrdersIn(BaseModel):
    """A batch of orders to place."""

    orders: list[OrderRequest] = Field(min_length=1, max_length=BATCH_SIZE)


class BatchesIn(BaseModel):
    """Batches of orders to place one after the other, in this order."""

    batches: list[Annotated[list[OrderRequest], Field(min_length=1, max_length=BATCH_SIZE)]] = (
        Field(min_length=1, max_length=MAX_BATCHES)
    )


class BatchOut(TypedDict):
    """One line of ``/orders/batches``: a batch's orders and the service's stages for it."""

    orders: list[Order]
    timing: str


class CancelIn(BaseModel):
    """Which order to cancel."""

    symbol: str
    client_id: str | None = None
    order_id: str | None = None


class StopsIn(BaseModel):
    """The SL/TP to set on a position (None: none)."""

    symbol: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None


class SymbolsIn(BaseModel):
    """Symbols to prepare or price."""

    symbols: list[str]
    fresh: bool = False


Symbols = Annotated[list[str] | None, Query(description="Only these symbols.")]

# the types the routes answer (their encoders are built by ``GatewayService.warm``)
SERVED: tuple[Any, ...] = (
    Any,
    Order,
    Order | None,
    list[Order],
    BatchOut,
    Balance,
    list[Position],
    AccountOut,
    dict[str, MarketSpec],
    tuple[Decimal | None, Decimal | None],
    list[Fill],
    list[FundingPayment],
)


class Traffic:
    """The HTTP requests a service answered and the TCP connections they came on.

    A connection is a client address (host, port) not seen among the last
    :data:`PEERS` ones: a client that keeps its connection open (``RemoteGateway``
    does) shows one connection for many requests. ``/stats`` answers the counts.
    """

    PEERS = 4096

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0
        self._peers: dict[tuple[Any, ...], None] = {}

    def note(self, peer: tuple[Any, ...]) -> None:
        """Count one request from ``peer`` (and its connection, if new)."""
        self.requests += 1
        if peer not in self._peers:
            self.connections += 1
            self._peers[peer] = None
            if len(self._peers) > self.PEERS:
                del self._peers[next(iter(self._peers))]

    def counts(self) -> dict[str, int]:
        """Return the requests and connections counted so far."""
        return {"requests": self.requests, "connections": self.connections}


class CountTraffic:
    """ASGI middleware noting every HTTP request in a :class:`Traffic` (no other work)."""

    def __init__(self, app: Any, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Note the request, then pass it on."""
        if scope["type"] == "http":
            self.traffic.note(tuple(scope.get("client") or ()))
        await self.app(scope, receive, send)


async def stream_batches(
    service: GatewayService, batches: Sequence[Sequence[OrderRequest]]
) -> AsyncIterator[bytes]:
    """Yield one NDJSON line per batch placed (:class:`BatchOut`), in order.

    Each batch goes through :meth:`GatewayService.place_orders` (same claims, same
    answers to known client ids) once the one before it was answered, all on one
    exchange thread: no hand-off back to the event loop and out again between two
    batches, only each line to the loop; a batch's answers are recorded there too, right
    after its line, before the next batch's claim. A batch that fails answers the wire's error
    body as its line and ends the stream: the batches after it are not sent. A client
    that goes away ends it too (the server cancels this generator): the batch in flight
    completes and is recorded, no later one is sent.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()
    gone = threading.Event()

    def put(line: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody reads any more
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def place_all() -> None:
        try:
            for batch in batches:
                if gone.is_set() or not _place_line(service, batch, put):
                    return
        finally:
            put(None)

    service.executor.submit(contextvars.copy_context().run, place_all)
    try:
        while (line := await lines.get()) is not None:
            yield line
    finally:
        gone.set()


def _place_line(
    service: GatewayService, batch: Sequence[OrderRequest], put: Callable[[bytes], None]
) -> bool:
    """Place one batch of a stream and ``put`` its line (its error's if it failed).

    Returns whether the batch was placed (answered, not failed).
    """
    stages = Stages()
    token = _stages.set(stages)

    def answered(placed: list[Order]) -> None:
        timing = stages.header()
        put(wire.dump_json({"orders": placed, "timing": timing}, BatchOut) + b"\n")

    try:
        service.place_orders(batch, answered=answered)
        return True
    except (AifapError, ValueError) as exc:
        if wire.status_of(exc) >= 500:
            log.warning("POST %s/orders/batches: %s", API, type(exc).__name__)
        failed: BaseException = exc
    except Exception as exc:  # the stream has begun: a GatewayError line, not a 500
        log.exception("POST %s/orders/batches failed", API)
        failed = GatewayError(f"the gateway service failed a batch: {type(exc).__name__}")
    finally:
        _stages.reset(token)
    put(wire.dump_json(wire.error_body(failed)) + b"\n")
    return False


def gateway_router(service: GatewayService, key: str) -> APIRouter:
    """Return the ``/v1`` routes of ``service``, each behind a ``gateway:ACCOUNT`` token.

    The handlers are coroutines that await the exchange threads (``service.call``);
    a token's verification is remembered until it expires (``TokenVerifier``).
    """
    verify = TokenVerifier(scope=service.account.scope, key=key)

    async def authorized(request: Request) -> TokenClaims:
        with stage("auth"):
            return verify(bearer(request.headers.get("authorization")))

    router = APIRouter(
        prefix=API, route_class=GatewayRoute, dependencies=[Depends(authorized)],
        tags=["gateway"],
    )  # fmt: skip
    gw = service.gateway
    call = service.call

    @router.get("/info")
    async def info() -> Response:
        """The account's venue, market type and what its fills can tell."""
        return json_response(await call(service.info))

    @router.get("/markets")
    async def markets() -> Response:
        """Tradable markets by compact symbol."""
        found = await call(gw.markets)
        return json_response(found, tp=dict[str, MarketSpec])

    @router.get("/balance")
    async def balance() -> Response:
        """The wallet balance in the quote currency."""
        return json_response(await call(gw.balance), tp=Balance)

    @router.get("/positions")
    async def positions() -> Response:
        """Open positions."""
        return json_response(await call(gw.positions), tp=list[Position])

    @router.get("/account")
    async def account() -> Response:
        """Balance and positions, read concurrently."""
        bal, held = await call(gw.balance_and_positions)
        return json_response({"balance": bal, "positions": held}, tp=AccountOut)

    @router.get("/orders/open")
    async def open_orders(symbol: str | None = None) -> Response:
        """Open orders, for one symbol or all."""
        return json_response(await call(gw.open_orders, symbol), tp=list[Order])

    @router.get("/orders/{client_id}")
    async def fetch_order(client_id: str, symbol: str) -> Response:
        """The order with this client id (null: the exchange never saw it)."""
        return json_response(await call(gw.fetch_order, client_id, symbol), tp=Order | None)

    @router.post("/orders")
    async def place_orders(body: OrdersIn) -> Response:
        """Place up to 5 orders; a known client id answers its first result, never a new order."""
        return json_response(await call(service.place_orders, body.orders), tp=list[Order])

    @router.post("/orders/batches")
    async def place_batches(body: BatchesIn) -> Response:
        """Place batches one after the other; each batch's answer streams back as a line."""
        return StreamingResponse(
            stream_batches(service, body.batches), media_type="application/x-ndjson"
        )

    @router.post("/orders/cancel")
    async def cancel(body: CancelIn) -> Response:
        """Cancel one order by client id or exchange id."""
        await call(gw.cancel, body.symbol, client_id=body.client_id, order_id=body.order_id)
        return json_response({"ok": True})

    @router.post("/stops")
    async def set_stops(body: StopsIn) -> Response:
        """Set or replace the SL/TP covering a position."""
        await call(
            gw.set_stops, body.symbol, take_profit=body.take_profit, stop_loss=body.stop_loss
        )
        return json_response({"ok": True})

    @router.get("/stops/{symbol}")
    async def stops(symbol: str) -> Response:
        """The (take profit, stop loss) covering a position."""
        found = await call(gw.stops, symbol)
        return json_response(found, tp=tuple[Decimal | None, Decimal | None])

    @router.post("/prepare")
    async def prepare(body: SymbolsIn) -> Response:
        """Set position mode, margin mode and leverage of these symbols; refresh their prices."""

        def ready() -> None:
            gw.prepare(body.symbols)
            gw.reference_prices(body.symbols)

        await call(ready)
        return json_response({"ok": True})

    @router.post("/prices")
    async def prices(body: SymbolsIn) -> Response:
        """The reference prices orders are checked at (``fresh``: ask the exchange now)."""
        found = await call(gw.reference_prices, body.symbols, fresh=body.fresh)
        return json_response({s: format(p, "f") for s, p in found.items()})

    @router.get("/fills")
    async def fills(since: datetime, symbols: Symbols = None) -> Response:
        """Executions at or after ``since``, oldest first."""
        return json_response(await call(gw.fills, since, symbols), tp=list[Fill])

    @router.get("/funding")
    async def funding(since: datetime, symbols: Symbols = None) -> Response:
        """Funding settlements at or after ``since``, oldest first."""
        return json_response(await call(gw.funding, since, symbols), tp=list[FundingPayment])

    @router.get("/ohlcv/{symbol}")
    async def ohlcv(
        symbol: str,
        timeframe: str = "1m",
        since: datetime | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        """Completed bars as ``[ms, open, high, low, close, volume]`` rows."""
        frame = await call(gw.ohlcv, symbol, timeframe, since=since, limit=limit)
        return json_response(wire.dump_bars(frame))

    return router


def create_app(account: AccountConfig, database_url: str, *, key: str | None = None) -> FastAPI:
    """Return the gateway service of ``account``: ``/v1`` routes, ``/health``, ``/ready``.

    Args:
        account: the account served (its keys are read now).
        database_url: where the client-id memory lives.
        key: the token signing key (default: ``AIFAP_SECRET_KEY`` / ``_FILE``).
    """
    signing_key = key if key is not None else secret_key()
    service = GatewayService(account, database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title=f"AIFAP gateway: {account.account}",
        description=__doc__,
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    app.include_router(gateway_router(service, signing_key))
    traffic = Traffic()
    app.add_middleware(CountTraffic, traffic=traffic)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/stats", tags=["service"])
    def stats() -> dict[str, int]:
        """Requests answered and TCP connections they came on (kept-open ones count once)."""
        return traffic.counts()

    @app.get("/ready", tags=["service"])
    def ready() -> Response:
        """The exchange answers: markets loaded, clients built (503 until then)."""
        try:
            count = service.warm()  # not on an exchange thread: it fills them all
        except AifapError as exc:
            return json_response({"status": "unavailable", "detail": type(exc).__name__}, 503)
        return json_response({"status": "ready", "markets": count})

    return app
