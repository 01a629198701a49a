"""The session journal in the results database: cycles, intended orders, fills, events.

The rule that makes restarts safe: an order's row (state ``intended``) is committed
*before* the order is handed to the gateway, under the deterministic client id the
planner gave it. A restart therefore knows every order that may have reached the
exchange, looks each one up by client id and sends only the ones never seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aifap.core.orders import Fill, Order, OrderRequest, OrderStatus
from aifap.core.timeconv import to_ms
from aifap.db import session_factory, session_rows
from aifap.live.codec import dumps
from aifap.live.models import LiveCycle, LiveEvent, LiveFill, LiveOrder, LiveSession
from aifap.live.stopfills import SessionStops, session_stops, stop_reason

log = logging.getLogger(__name__)

OPEN_CYCLE_STATES = ("planned", "executing")
SKIPPED_ORDER_STATE = "skipped"  # journaled, deliberately never sent (final)
FINAL_ORDER_STATES = frozenset(
    {
        OrderStatus.FILLED.value,
        OrderStatus.CANCELED.value,
        OrderStatus.REJECTED.value,
        SKIPPED_ORDER_STATE,
    }
)


def fill_key(fill: Fill) -> str:
    """Return the stable identity of a fill: its trade id, else a digest of its fields."""
    if fill.trade_id:
        return f"t:{fill.trade_id}"[:128]
    raw = "|".join(
        str(x)
        for x in (
            fill.order_id,
            fill.client_id,
            fill.symbol,
            fill.side,
            fill.amount,
            fill.price,
            to_ms(fill.timestamp),
        )
    )
    return "h:" + hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


class Journal:
    """Read and write one session's journal rows.

    Args:
        engine: the results database (each process makes its own after fork).
        session_id: the session whose rows this journal reads and writes.
    """

    def __init__(self, engine: Engine, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id
        self._sessions = session_factory(engine)

    # --- session -----------------------------------------------------------------

    def session_row(self) -> LiveSession | None:
        """Return the session's row, or None before its first start."""
        with self._sessions() as db:
            return db.get(LiveSession, self.session_id)

    def update_session(self, **values: Any) -> None:
        """Set columns of the session's row."""
        with self._sessions.begin() as db:
            db.execute(
                update(LiveSession)
                .where(LiveSession.session_id == self.session_id)
                .values(**values)
            )

    def create_session(self, row: LiveSession) -> None:
        """Insert the session's first row."""
        with self._sessions.begin() as db:
            db.add(row)

    # --- cycles ------------------------------------------------------------------

    def next_cycle(self) -> int:
        """Return the number the next cycle gets (1 for the first)."""
        with self._sessions() as db:
            last = db.scalar(
                select(func.max(LiveCycle.cycle)).where(LiveCycle.session_id == self.session_id)
            )
        return (last or 0) + 1

    def cycle(self, cycle: int) -> LiveCycle | None:
        """Return one cycle's row."""
        with self._sessions() as db:
            return db.get(LiveCycle, (self.session_id, cycle))

    def cycles(self) -> list[LiveCycle]:
        """Return every cycle, oldest first."""
        return session_rows(self._sessions, LiveCycle, self.session_id, LiveCycle.cycle)

    def unfinished_cycle(self) -> LiveCycle | None:
        """Return the cycle that was planned or executing when the session stopped."""
        with self._sessions() as db:
            return db.scalar(
                select(LiveCycle)
                .where(
                    LiveCycle.session_id == self.session_id, LiveCycle.state.in_(OPEN_CYCLE_STATES)
                )
                .order_by(LiveCycle.cycle.desc())
            )

    def start_cycle(self, cycle: int, scheduled_ms: int, now_ms: int) -> None:
        """Record that ``cycle`` began (state ``started``)."""
        with self._sessions.begin() as db:
            db.add(
                LiveCycle(
                    session_id=self.session_id,
                    cycle=cycle,
                    state="started",
                    scheduled_ms=scheduled_ms,
                    started_ms=now_ms,
                    replayed=False,
                )
            )

    def set_cycle(self, cycle: int, **values: Any) -> None:
        """Set columns of one cycle's row."""
        with self._sessions.begin() as db:
            db.execute(
                update(LiveCycle)
                .where(
                    LiveCycle.session_id == self.session_id,
                    LiveCycle.cycle == cycle,
                )
                .values(**values)
            )

    def skip_cycle(self, cycle: int, reason: str, now_ms: int, state: str = "skipped") -> None:
        """Close ``cycle`` without trading, saying why."""
        self.set_cycle(cycle, state=state, reason=reason, finished_ms=now_ms)

    def latest_state(self) -> dict[str, Any]:
        """Return ``context.state`` as journaled after the newest cycle that saved one."""
        with self._sessions() as db:
            text = db.scalar(
                select(LiveCycle.state_json)
                .where(
                    LiveCycle.session_id == self.session_id,
                    LiveCycle.state_json.is_not(None),
                )
                .order_by(LiveCycle.cycle.desc())
                .limit(1)
            )
        return json.loads(text) if text else {}

    # --- orders ------------------------------------------------------------------

    def record_intended(
        self, cycle: int, batches: Sequence[Sequence[OrderRequest]], now_ms: int
    ) -> None:
        """Journal every order of a plan as ``intended`` (idempotent on the client id)."""
        with self._sessions.begin() as db:
            self._add_intended(db, cycle, batches, now_ms)

    def begin_execution(
        self,
        cycle: int,
        batches: Sequence[Sequence[OrderRequest]],
        now_ms: int,
        *,
        replayed: bool,
    ) -> dict[str, LiveOrder]:
        """Journal the plan's orders as ``intended`` and the cycle as ``executing``, at once.

        One transaction: when it commits, every order that may be sent is known.
        Returns the cycle's order rows (new and already journaled) by client id.
        """
        with self._sessions.begin() as db:
            self._add_intended(db, cycle, batches, now_ms)
            db.execute(
                update(LiveCycle)
                .where(LiveCycle.session_id == self.session_id, LiveCycle.cycle == cycle)
                .values(state="executing", replayed=replayed)
            )
            db.flush()
            rows = db.scalars(
                select(LiveOrder).where(
                    LiveOrder.session_id == self.session_id, LiveOrder.cycle == cycle
                )
            )
            return {row.client_id: row for row in rows}

    def _add_intended(
        self, db: Session, cycle: int, batches: Sequence[Sequence[OrderRequest]], now_ms: int
    ) -> None:
        known = set(
            db.scalars(
                select(LiveOrder.client_id).where(
                    LiveOrder.session_id == self.session_id, LiveOrder.cycle == cycle
                )
            )
        )
        seq = 0
        for number, batch in enumerate(batches):
            for order in batch:
                seq += 1
                if order.client_id in known:
                    continue
                db.add(
                    LiveOrder(
                        client_id=order.client_id,
                        session_id=self.session_id,
                        cycle=cycle,
                        seq=seq,
                        batch=number,
                        symbol=order.symbol,
                        side=order.side.value,
                        amount=order.amount,
                        reduce_only=order.reduce_only,
                        leg=order.leg,
                        take_profit=order.take_profit,
                        stop_loss=order.stop_loss,
                        status="intended",
                        filled=Decimal(0),
                        sends=0,
                        updated_ms=now_ms,
                    )
                )

    def mark_sending(self, client_ids: Iterable[str], now_ms: int) -> None:
        """Count one more hand-over to the gateway for each order (before the call)."""
        ids = list(client_ids)
        with self._sessions.begin() as db:
            db.execute(
                update(LiveOrder)
                .where(LiveOrder.client_id.in_(ids))
                .values(sends=LiveOrder.sends + 1, updated_ms=now_ms)
            )

    def record_order(self, order: Order, now_ms: int) -> None:
        """Store what the exchange says about one of our orders."""
        self.record_orders([order], now_ms)

    def record_orders(self, orders: Iterable[Order], now_ms: int) -> None:
        """Store what the exchange says about several of our orders (one transaction)."""
        with self._sessions.begin() as db:
            for order in orders:
                db.execute(
                    update(LiveOrder)
                    .where(LiveOrder.client_id == order.client_id)
                    .values(
                        status=order.status.value,
                        exchange_id=order.exchange_id,
                        filled=order.filled,
                        average_price=order.average_price,
                        reason=order.reason,
                        updated_ms=now_ms,
                    )
                )

    def mark_missing(self, client_id: str, now_ms: int) -> None:
        """Record that the exchange never saw an order (it is sent again on replay)."""
        with self._sessions.begin() as db:
            db.execute(
                update(LiveOrder)
                .where(LiveOrder.client_id == client_id)
                .values(status="missing", updated_ms=now_ms)
            )

    def mark_skipped(self, client_id: str, reason: str, now_ms: int) -> None:
        """Record that an order is never sent (final: a replay does not send it either)."""
        with self._sessions.begin() as db:
            db.execute(
                update(LiveOrder)
                .where(LiveOrder.client_id == client_id, LiveOrder.sends == 0)
                .values(status=SKIPPED_ORDER_STATE, reason=reason, updated_ms=now_ms)
            )

    def resize_order(self, client_id: str, amount: Decimal, now_ms: int) -> None:
        """Record that an order goes out with ``amount`` instead of the planned one."""
        with self._sessions.begin() as db:
            db.execute(
                update(LiveOrder)
                .where(LiveOrder.client_id == client_id)
                .values(amount=amount, updated_ms=now_ms)
            )

    def orders(self, cycle: int | None = None) -> list[LiveOrder]:
        """Return the session's orders (of one cycle), in plan order."""
        where = [] if cycle is None else [LiveOrder.cycle == cycle]
        return session_rows(
            self._sessions, LiveOrder, self.session_id, LiveOrder.cycle, LiveOrder.seq, where=where
        )

    def open_orders(self) -> list[LiveOrder]:
        """Return orders handed to the gateway whose final state is not yet recorded."""
        with self._sessions() as db:
            return list(
                db.scalars(
                    select(LiveOrder).where(
                        LiveOrder.session_id == self.session_id,
                        LiveOrder.sends > 0,
                        LiveOrder.status.not_in(sorted(FINAL_ORDER_STATES)),
                    )
                )
            )

    def exchange_ids(self) -> dict[str, str]:
        """Return the client id of every order the exchange acknowledged, by exchange id."""
        with self._sessions() as db:
            rows = db.execute(
                select(LiveOrder.exchange_id, LiveOrder.client_id).where(
                    LiveOrder.session_id == self.session_id, LiveOrder.exchange_id.is_not(None)
                )
            )
            return {str(exchange_id): client_id for exchange_id, client_id in rows}

    def client_ids(self) -> set[str]:
        """Return every client id this session ever journaled."""
        with self._sessions() as db:
            return set(
                db.scalars(
                    select(LiveOrder.client_id).where(LiveOrder.session_id == self.session_id)
                )
            )

    # --- fills -------------------------------------------------------------------

    def record_fills(
        self,
        fills: Iterable[Fill],
        ours: Callable[[Fill], bool],
        epoch: int,
        *,
        exact_stops: bool = False,
    ) -> list[Fill]:
        """Store fills not yet known (by :func:`fill_key`); return the new ones.

        With ``exact_stops`` (the gateway marks its SL/TP executions by reason, and
        ``ours`` owns those), a fill ``ours`` disowns is foreign. Without it (a venue
        that cannot link a stop's fill to its trigger), a disowned fill is still the
        session's when it looks like the execution of the session's own SL/TP by side
        and price (the fallback of :mod:`aifap.live.stopfills`); it is stored as ours
        with the stop's reason. The new fills go in one transaction; if another writer
        stored one of them meanwhile, they are stored one by one (the known one is
        skipped).
        """
        keyed = {fill_key(fill): fill for fill in fills}
        known = self._known_fill_keys(list(keyed))
        rows: list[tuple[LiveFill, Fill]] = []
        stops: dict[str, SessionStops] | None = None
        for key, fill in keyed.items():
            if key in known:
                continue
            mine = ours(fill)
            if not mine and not exact_stops:
                stops = self.session_stops() if stops is None else stops
                reason = stop_reason(fill, stops)
                if reason is not None:
                    fill, mine = replace(fill, reason=reason), True
            rows.append((self._fill_row(key, fill, mine, epoch), fill))
        if not rows:
            return []
        try:
            with self._sessions.begin() as db:
                db.add_all(row for row, _ in rows)
        except IntegrityError:
            return self._record_fills_one_by_one(rows)
        return [fill for _, fill in rows]

    def _known_fill_keys(self, keys: list[str]) -> set[str]:
        known: set[str] = set()
        with self._sessions() as db:
            for start in range(0, len(keys), 500):  # bounded IN lists
                known.update(
                    db.scalars(
                        select(LiveFill.fill_key).where(
                            LiveFill.session_id == self.session_id,
                            LiveFill.fill_key.in_(keys[start : start + 500]),
                        )
                    )
                )
        return known

    def _record_fills_one_by_one(self, rows: list[tuple[LiveFill, Fill]]) -> list[Fill]:
        new: list[Fill] = []
        for row, fill in rows:
            try:
                with self._sessions.begin() as db:
                    db.add(self._fill_row(row.fill_key, fill, row.ours, row.epoch))
            except IntegrityError:
                continue
            new.append(fill)
        return new

    def _fill_row(self, key: str, fill: Fill, mine: bool, epoch: int) -> LiveFill:
        return LiveFill(
            session_id=self.session_id,
            fill_key=key,
            client_id=fill.client_id,
            order_id=fill.order_id,
            symbol=fill.symbol,
            side=fill.side.value,
            amount=fill.amount,
            price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            reason=fill.reason.value,
            realized_pnl=fill.realized_pnl,
            ts_ms=to_ms(fill.timestamp),
            ours=mine,
            epoch=epoch,
        )

    def session_stops(self) -> dict[str, SessionStops]:
        """Return each symbol's newest SL/TP from the plans of the cycles that executed."""
        with self._sessions() as db:
            plans = db.scalars(
                select(LiveCycle.plan_json)
                .where(
                    LiveCycle.session_id == self.session_id,
                    LiveCycle.plan_json.is_not(None),
                    LiveCycle.state.in_(("executing", "done")),
                )
                .order_by(LiveCycle.cycle)
            )
            return session_stops(p for p in plans if p)

    def filled_by_fills(self, client_ids: Iterable[str]) -> dict[str, tuple[Decimal, Decimal, str]]:
        """Return (amount, average price, exchange order id) of the recorded fills per order."""
        ids = list(client_ids)
        if not ids:
            return {}
        totals: dict[str, tuple[Decimal, Decimal, str]] = {}
        with self._sessions() as db:
            rows = db.execute(
                select(LiveFill.client_id, LiveFill.amount, LiveFill.price, LiveFill.order_id)
                .where(LiveFill.session_id == self.session_id, LiveFill.client_id.in_(ids))
                .order_by(LiveFill.ts_ms, LiveFill.id)
            )
            for client_id, amount, price, order_id in rows:
                if client_id is None:
                    continue
                done, notional, _ = totals.get(client_id, (Decimal(0), Decimal(0), ""))
                totals[client_id] = (done + amount, notional + amount * price, order_id or "")
        return {
            cid: (amount, notional / amount, order_id)
            for cid, (amount, notional, order_id) in totals.items()
            if amount > 0
        }

    def last_fill_ms(self) -> int | None:
        """Return the time of the newest recorded fill."""
        with self._sessions() as db:
            return db.scalar(
                select(func.max(LiveFill.ts_ms)).where(LiveFill.session_id == self.session_id)
            )

    def fills(self) -> list[LiveFill]:
        """Return every recorded fill, oldest first."""
        return session_rows(self._sessions, LiveFill, self.session_id, LiveFill.ts_ms, LiveFill.id)

    def book(self, epoch: int, quote: str = "USDT") -> dict[str, Decimal]:
        """Return the signed size per symbol our own fills of ``epoch`` add up to.

        A fee charged in the base coin of the fill's market (``symbol`` = fee coin +
        ``quote``: a spot buy, or a sell paying in the base) comes out of the holding,
        as the venue takes it: a spot buy of ``A`` adds ``A − fee``. Fees in the quote
        (futures, spot sells) or in a third coin leave the size alone.
        """
        sizes: dict[str, Decimal] = {}
        with self._sessions() as db:
            rows = db.execute(
                select(
                    LiveFill.symbol,
                    LiveFill.side,
                    LiveFill.amount,
                    LiveFill.fee,
                    LiveFill.fee_currency,
                ).where(
                    LiveFill.session_id == self.session_id,
                    LiveFill.ours.is_(True),
                    LiveFill.epoch == epoch,
                )
            )
            for symbol, side, amount, fee, fee_currency in rows:
                signed = amount if side == "buy" else -amount
                if fee and fee_currency not in (None, quote) and symbol == f"{fee_currency}{quote}":
                    signed -= fee
                sizes[symbol] = sizes.get(symbol, Decimal(0)) + signed
        return sizes

    # --- events ------------------------------------------------------------------

    def event(
        self, level: str, kind: str, message: str, now_ms: int, cycle: int | None = None
    ) -> None:
        """Record an alert or notable event."""
        try:
            with self._sessions.begin() as db:
                db.add(
                    LiveEvent(
                        session_id=self.session_id,
                        cycle=cycle,
                        ts_ms=now_ms,
                        level=level,
                        kind=kind,
                        message=message[:4000],
                    )
                )
        except Exception:  # the journal of an event must never take the session down
            log.exception("could not journal event %s", kind)

    def events(self, kind: str | None = None) -> list[LiveEvent]:
        """Return the session's events (of one kind), oldest first."""
        query = select(LiveEvent).where(LiveEvent.session_id == self.session_id)
        if kind is not None:
            query = query.where(LiveEvent.kind == kind)
        with self._sessions() as db:
            return list(db.scalars(query.order_by(LiveEvent.id)))


def json_state(state: dict[str, Any]) -> str | None:
    """Return ``context.state`` as JSON, or None (with a warning) if it is not JSON-ready."""
    try:
        return dumps(state)
    except (TypeError, ValueError) as exc:
        log.warning("context.state must be JSON-serializable to survive restarts: %s", exc)
        return None
