"""``PaperGateway``: the ``Gateway`` protocol on simulated fills, persisted in the database.

Fills come from the core ``FillModel`` exactly as in the backtester: a market order
placed at ``now`` fills at the open of the first bar opening at or after ``now``
(the backtester's "next bar"), SL/TP trigger intrabar (``stop_trigger``), and the
funding settling at ``S`` (every 8 h) is booked at the close of the first bar closing
at or after ``S`` (the 07:59 bar for 08:00), after that bar's fills and stops and
before the orders filling at the 08:00 open: the backtester's within-bar order (see
``aifap.exchange.paper.simulate``). The clock is injected (the live runner drives a
replay clock); every call first advances the book to ``clock()`` over the bars the
``BarSource`` has (a bar that is late is waited for up to ``late_bars``). A client id
seen before returns the existing order. Orders fill in the order they were placed,
each completely, like the backtester's plan (``fills_in_order``), so a flip's open leg
may be sent once its close leg is accepted: both fill at the same bar.

Several processes may share one account: the database is the source of truth, every
public call is one transaction under the account's lock (``aifap.exchange.paper.tx``)
and each process's in-memory ledger is reloaded, incrementally, only when another
process changed the book (``aifap.exchange.paper.book``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError, OrderRejectedError
from aifap.core.fills import FillModel
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType, to_decimal
from aifap.core.orders import Fill, Order, OrderRequest, OrderStatus, rejected_order
from aifap.core.portfolio import Position
from aifap.core.timeconv import to_ms
from aifap.core.timeframes import parse_duration
from aifap.db import database_url, make_engine, migrate
from aifap.exchange.factories import GatewayContext
from aifap.exchange.gateway import BATCH_SIZE, Balance, FundingPayment
from aifap.exchange.paper import state
from aifap.exchange.paper.book import PaperBook
from aifap.exchange.paper.models import (
    PaperAccount,
    PaperFill,
    PaperFunding,
    PaperOrder,
    PaperStops,
)
from aifap.exchange.paper.tx import PaperTx, locked

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _px(value: float) -> Decimal:
    return to_decimal(float(value))  # the backtester's Decimal(repr(float))


class PaperGateway:
    """A simulated account whose state survives restarts and is shared by processes.

    Args:
        markets: the tradable markets by compact symbol.
        bars: where prices come from (synthetic market, stored bars, public data).
        url: database URL (default: the platform database).
        account: the account name (one per session).
        capital: USDT credited when the account is created.
        leverage: leverage of futures positions.
        market_type: spot or futures.
        fill_model: the fill model (pass the backtester's instance).
        clock: returns the current UTC time.
        timeframe: the bar timeframe used for fills and triggers.
        late_bars: how long a missing bar is waited for before it counts as a hole
            (live paper trading over a store that is still being filled).
    """

    # orders fill completely and in the order they were placed (a reduce-only close at
    # most the position it finds): a flip's open leg may follow its accepted close
    fills_in_order = True

    def __init__(
        self,
        markets: Mapping[str, MarketSpec],
        bars: BarSource,
        *,
        url: str | None = None,
        account: str = "paper",
        capital: Decimal | int | str = 10_000,
        leverage: Decimal | int = 1,
        market_type: MarketType = MarketType.FUTURES,
        fill_model: FillModel | None = None,
        clock: Callable[[], datetime] = _utcnow,
        timeframe: str = "1m",
        late_bars: timedelta = timedelta(minutes=5),
    ) -> None:
        self.name = "paper"
        self.market_type = market_type
        self._markets = {s: m for s, m in markets.items() if m.market_type is market_type}
        for spec in self._markets.values():
            if spec.is_futures and to_decimal(leverage) > spec.max_leverage:
                raise ConfigError(
                    f"{spec.symbol}: leverage must be <= {spec.max_leverage}, was {leverage}"
                )
        self.bars = bars
        self.fill_model = fill_model or FillModel()
        self.clock = clock
        self.timeframe = timeframe
        self.late_bars = late_bars
        self.url = url or database_url("platform")
        migrate(self.url)
        self.engine: Engine = make_engine(self.url)
        self.account: PaperAccount = state.open_account(
            self.engine, account, market_type, to_decimal(capital), to_decimal(leverage)
        )
        self.book = PaperBook(
            self.account.name, self.account.capital, self.account.leverage, self._markets
        )
        self._lock = threading.RLock()

    @classmethod
    def for_session(cls, config: Any, context: GatewayContext) -> PaperGateway:
        """Return the paper account of a session (the registered ``paper`` gateway).

        ``config`` is the session's ``SessionConfig``; the markets come from the session's
        bar source, which must have them (the synthetic market, bar files with specs).
        Every process of the session may hold one (see the module docstring).
        """
        markets_of = getattr(context.bars, "markets", None)
        if markets_of is None:
            raise ConfigError(
                f"bar_source: a paper session needs market specs from its bar "
                f"source, {config.bar_source!r} has none"
            )
        return cls(
            markets_of(),
            context.bars,
            url=config.results_url(),
            account=config.account_label,
            capital=config.allocation,
            leverage=config.leverage,
            market_type=config.market,
            clock=context.clock,
            timeframe=config.bar_timeframe,
            late_bars=parse_duration(config.bar_max_age),
        )

    def __repr__(self) -> str:
        return f"PaperGateway({self.account.name} {self.market_type})"

    @property
    def ledger(self) -> Ledger:
        """The account's ledger as this process last loaded it (read it inside a call)."""
        return self.book.ledger

    @contextmanager
    def _call(self) -> Iterator[PaperTx]:
        """Run one public call: locked, ledger synced, book advanced to ``clock()``."""
        from aifap.exchange.paper.simulate import advance

        with self._lock, locked(self.engine, self.book) as tx:
            advance(self, tx)
            yield tx

    # ---- reads -----------------------------------------------------------------------

    def markets(self) -> dict[str, MarketSpec]:
        """Return the tradable markets."""
        return dict(self._markets)

    def balance(self) -> Balance:
        """Return the wallet balance (capital + realized PnL − fees − funding)."""
        with self._call():
            marks = self._marks(list(self.ledger.positions))
            margin = sum(
                (p.margin for p in self.ledger.portfolio(marks).positions.values()), Decimal(0)
            )
            wallet = self.ledger.balance
            free = self.ledger.cash if self.market_type is MarketType.SPOT else wallet - margin
            return Balance("USDT", wallet, free, self.ledger.equity(marks))

    def positions(self) -> list[Position]:
        """Return open positions marked at the last close."""
        with self._call():
            marks = self._marks(list(self.ledger.positions))
            return sorted(self.ledger.portfolio(marks).positions.values(), key=lambda p: p.symbol)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return orders waiting for their fill bar."""
        with self._call() as tx:
            return [
                state.order_of(r) for r in self._pending(tx.session) if symbol in (None, r.symbol)
            ]

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id``, or None."""
        with self._call() as tx:
            row = self._order_row(tx.session, client_id)
            return None if row is None else state.order_of(row)

    def fills(self, since: datetime, symbols: Sequence[str] | None = None) -> list[Fill]:
        """Return executions at or after ``since``, oldest first."""
        with self._call() as tx:
            rows = tx.session.scalars(
                select(PaperFill)
                .where(PaperFill.account == self.account.name, PaperFill.ts_ms >= to_ms(since))
                .order_by(PaperFill.ts_ms, PaperFill.seq)
            ).all()
            return [state.fill_of(r) for r in rows if symbols is None or r.symbol in symbols]

    def funding(
        self, since: datetime, symbols: Sequence[str] | None = None
    ) -> list[FundingPayment]:
        """Return funding settlements at or after ``since``, oldest first."""
        with self._call() as tx:
            rows = tx.session.scalars(
                select(PaperFunding)
                .where(
                    PaperFunding.account == self.account.name,
                    PaperFunding.ts_ms >= to_ms(since),
                )
                .order_by(PaperFunding.ts_ms, PaperFunding.seq)
            ).all()
            return [state.funding_of(r) for r in rows if symbols is None or r.symbol in symbols]

    def ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return completed bars up to the clock's now."""
        self._spec(symbol)
        return self.bars.bars(symbol, timeframe, start=since, end=self.clock(), limit=limit)

    # ---- orders ----------------------------------------------------------------------

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        """Record up to 5 orders; they fill at the next bar's open (see the module doc).

        An order that cannot be placed (unknown symbol, amount below the market's
        minimum, SL/TP on spot) comes back ``REJECTED`` with the reason and is not
        recorded; the others of the batch are placed.
        """
        if len(batch) > BATCH_SIZE:
            raise ValueError(f"batch must hold at most {BATCH_SIZE} orders, was {len(batch)}")
        with self._call() as tx:
            now_ms = to_ms(self.clock())
            result: list[Order] = []
            for request in batch:
                row = self._order_row(tx.session, request.client_id)
                if row is None:
                    try:
                        checked = self._check(request)
                    except OrderRejectedError as exc:
                        result.append(rejected_order(request, str(exc)))
                        continue
                    row = state.new_order(self.account.name, checked, now_ms)
                    tx.session.add(row)
                    tx.session.flush()
                result.append(state.order_of(row))
            return result

    def _check(self, request: OrderRequest) -> OrderRequest:
        spec = self._spec(request.symbol)
        amount = spec.round_amount(request.amount)
        if not spec.is_futures and (request.take_profit or request.stop_loss):
            raise OrderRejectedError(f"{request.symbol}: SL/TP must not be set on spot orders")
        if not request.reduce_only:
            marks = self._marks([request.symbol])
            price = marks.get(request.symbol, Decimal("Infinity"))
            reason = spec.below_minimum(amount, price)
            if reason is not None:
                raise OrderRejectedError(f"{request.symbol}: {reason}")
        elif amount <= 0:
            raise OrderRejectedError(
                f"{request.symbol}: amount must round to > 0 at step {spec.amount_step}, "
                f"was {request.amount}"
            )
        return request if amount == request.amount else replace(request, amount=amount)

    def cancel(
        self, symbol: str, *, client_id: str | None = None, order_id: str | None = None
    ) -> None:
        """Cancel a pending order by client id or ``paper-<id>``."""
        if client_id is None and order_id is None:
            raise ValueError("cancel needs client_id or order_id, was neither")
        with self._call() as tx:
            condition = (
                PaperOrder.client_id == client_id
                if client_id is not None
                else PaperOrder.id == int(str(order_id).removeprefix("paper-"))
            )
            tx.session.execute(
                update(PaperOrder)
                .where(
                    PaperOrder.account == self.account.name,
                    PaperOrder.symbol == symbol,
                    PaperOrder.status == OrderStatus.OPEN.value,
                    condition,
                )
                .values(status=OrderStatus.CANCELED.value)
            )

    def set_stops(
        self, symbol: str, *, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Replace the SL/TP of the whole position in ``symbol``."""
        spec = self._spec(symbol)
        if not spec.is_futures:
            raise OrderRejectedError(f"{symbol}: SL/TP must be on a futures position, was spot")
        with self._call() as tx:
            tx.session.merge(
                PaperStops(
                    account=self.account.name,
                    symbol=symbol,
                    after_fill_seq=self.book.last_fill_seq,
                    take_profit=take_profit,
                    stop_loss=stop_loss,
                )
            )
            self.ledger.set_stops(symbol, take_profit, stop_loss)
            tx.changed()

    def close(self) -> None:
        """Nothing to release (the engine is shared per URL)."""

    # ---- simulation ------------------------------------------------------------------

    def advance(self) -> None:
        """Carry the book to ``clock()``: pending fills, SL/TP triggers, funding."""
        with self._call():
            pass

    def _pending(self, session: Session) -> list[PaperOrder]:
        return list(
            session.scalars(
                select(PaperOrder)
                .where(
                    PaperOrder.account == self.account.name,
                    PaperOrder.status == OrderStatus.OPEN.value,
                )
                .order_by(PaperOrder.id)
            ).all()
        )

    def _order_row(self, session: Session, client_id: str) -> PaperOrder | None:
        return session.scalar(
            select(PaperOrder).where(
                PaperOrder.account == self.account.name, PaperOrder.client_id == client_id
            )
        )

    def _spec(self, symbol: str) -> MarketSpec:
        spec = self._markets.get(symbol)
        if spec is None:
            raise OrderRejectedError(
                f"{symbol}: symbol must be a paper {self.market_type} market, was unknown"
            )
        return spec

    def _marks(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        now = self.clock()
        marks: dict[str, Decimal] = {}
        for symbol in symbols:
            frame = self.bars.bars(symbol, self.timeframe, end=now, limit=1)
            if len(frame):
                marks[symbol] = _px(frame["close"].iloc[-1])
        return marks

