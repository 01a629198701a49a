"""Execute one cycle's plan through the gateway: closes first, batches of 5, then SL/TP.

Every order is journaled as ``intended`` before the first batch is sent, and counted
(``sends``) right before its batch is handed to the gateway. Replaying a cycle after
a crash runs the same code with ``replay=True``: each journaled order not known to
be final is first looked up at the exchange by its client id and sent only if the
exchange never saw it, so no order is ever placed twice.

A gateway that takes a cycle's batches at once (``place_batches``: the gateway
service, one request whose batches it sends one after the other; the ccxt gateway, which
sends each batch on a thread of its own as the one before is answered) gets them in one
hand-over when nothing has to happen between batches (no replay look-ups, no flip, no
spot buys to clip): every order is counted (``sends``) before it, and each batch's
acknowledgements are journaled as they stream back, with the same kill points in the
same order, while the gateway already sends the next batch.

A flip (a symbol's close leg and its open leg in one plan) sends the open leg only
once nothing can leave the position on the old side (:meth:`Executor._cleared`): on a
venue, once the close leg is looked up filled completely (it is looked up again while
it is open or partly filled, a few seconds at most); on a gateway that fills an
account's orders completely and in the order they were placed (``fills_in_order``: the
paper gateway, as the backtester fills a plan), once the close is accepted, so both
legs fill at the same bar as in the backtest. An open leg whose close cannot be
cleared is ``skipped`` (never sent), journaled with the reason and alerted
(``flip_skipped``); the next cycle plans again from the real position.

Spot on a venue (a gateway that prices market buys itself, ``reference_prices``): a
batch's buys go only after its sells, once the cycle's sells are looked up final, and
are clipped to the free quote the account then holds, at the price the gateway costs
them at (:func:`aifap.core.fills.affordable`, in plan order). The plan counted the
sells at the mark before their fee and the price may have moved since: a buy the
venue cannot pay for would be rejected, so it shrinks (the journal keeps the new
amount and why) or, below the market's minimum, is skipped with a warning. This is
the venue's side of what the fill model does at the fill in a backtest and in paper
(a paper gateway fills at the next bar, after the sells, and caps the buy there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from aifap.core.errors import OrderRejectedError
from aifap.core.fills import affordable
from aifap.core.markets import MarketType
from aifap.core.orders import (
    Fill,
    FillReason,
    Order,
    OrderRequest,
    OrderStatus,
    Side,
    rejected_order,
)
from aifap.core.planner import Plan
from aifap.core.timeconv import from_ms
from aifap.exchange.gateway import BATCH_SIZE, Gateway, StreamsBatches
from aifap.live.alerting import SessionAlerts
from aifap.live.clock import SessionClock
from aifap.live.codec import dumps, positions_to_dict
from aifap.live.hooks import kill_point
from aifap.live.journal import FINAL_ORDER_STATES, Journal

log = logging.getLogger(__name__)

FLIP_CHECKS = 5  # look-ups of a flip's unfilled close leg before its open leg is skipped
FLIP_WAIT = 1.0  # seconds (session time) between two of them: at most ~4 s per cycle
ACCEPTED = frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})


def flip_closes(orders: Sequence[OrderRequest]) -> dict[str, str]:
    """Return the client id of the close/reduce leg of each symbol that also opens (a flip).

    Only these symbols pay the extra look-up before their open leg is sent.
    """
    closes = {o.symbol: o.client_id for o in orders if o.reduce_only}
    if not closes:
        return {}
    return {o.symbol: closes[o.symbol] for o in orders if not o.reduce_only and o.symbol in closes}


class Executor:
    """Send plans and record what happened.

    Args:
        gateway: the session's account.
        journal: the session's journal.
        clock: the session clock.
        workdir: where the kill-point markers go (test seam).
        symbols: the session's symbols (fills of other symbols are not ours).
        alerts: where rejected orders are reported.
    """

    def __init__(
        self,
        gateway: Gateway,
        journal: Journal,
        clock: SessionClock,
        workdir: Path,
        symbols: Sequence[str],
        alerts: SessionAlerts | None = None,
    ) -> None:
        self.gateway = gateway
        self.journal = journal
        self.clock = clock
        self.workdir = workdir
        self.symbols = tuple(symbols)
        self.alerts = alerts

    def execute(self, cycle: int, plan: Plan, *, replay: bool = False) -> None:
        """Run ``plan`` as cycle ``cycle`` and mark the cycle done.

        On the way to the last acknowledgement: one journal transaction for the whole
        plan (orders ``intended``, cycle ``executing``) while the gateway gets ready
        for the plan's symbols, then per batch one transaction before sending (sends
        counted) and one after (acknowledgements); handed over at once
        (:meth:`_send_all`), one before all batches and one per batch's answer. Fills
        and final order states are synced once the last batch is acknowledged.
        """
        batches = [tuple(b) for b in plan.batches(BATCH_SIZE)]
        flips = flip_closes(plan.orders)
        ready = self._prepare(sorted({o.symbol for o in plan.orders}))
        rows = self.journal.begin_execution(cycle, batches, self.clock.ms(), replayed=replay)
        ready()
        fresh = all(
            rows[o.client_id].sends == 0 and rows[o.client_id].status not in FINAL_ORDER_STATES
            for o in plan.orders
        )
        streams = isinstance(self.gateway, StreamsBatches)
        if streams and fresh and not replay and not flips and not self._clips_buys:
            self._send_all(cycle, batches)
            batches = []  # sent
        for number, batch in enumerate(batches):
            todo: list[OrderRequest] = []
            for order in batch:
                row = rows[order.client_id]
                if row.status in FINAL_ORDER_STATES:
                    continue
                if replay or row.sends > 0:
                    seen = self.gateway.fetch_order(order.client_id, order.symbol)
                    if seen is not None:
                        self._record(cycle, [seen])
                        continue
                    if row.sends > 0:
                        log.warning(
                            "order %s was sent but the exchange never saw it; "
                            "sending it again under the same client id",
                            order.client_id,
                        )
                        self.journal.mark_missing(order.client_id, self.clock.ms())
                todo.append(order)
            if self._clips_buys:  # spot on a venue: the buys after the sells, clipped
                buys = [o for o in todo if o.side is Side.BUY and not o.reduce_only]
                self._send(cycle, number, [o for o in todo if o not in buys])
                self._send(cycle, number + 1, self._affordable(cycle, buys))
                continue
            if not flips:
                self._send(cycle, number, todo)
                continue
            # the open leg of a flip goes only once its close leg (sent before) is final
            held = [o for o in todo if o.symbol in flips and not o.reduce_only]
            self._send(cycle, number, [o for o in todo if o not in held])
            self._send(cycle, number + 1, self._cleared(cycle, held, flips))
        kill_point("main.before_stops", self.workdir, cycle)
        for update in plan.stop_updates:
            self.gateway.set_stops(
                update.symbol, take_profit=update.take_profit, stop_loss=update.stop_loss
            )
        self.sync_fills()
        positions = [p for p in self.gateway.positions() if p.symbol in self.symbols]
        self.journal.set_cycle(
            cycle,
            state="done",
            finished_ms=self.clock.ms(),
            positions_after_json=dumps(positions_to_dict(positions)),
        )
        log.info("cycle %s: done, %d orders in %d batches", cycle, len(plan.orders), len(batches))

    def _send(self, cycle: int, number: int, todo: list[OrderRequest]) -> None:
        """Count, send and journal ``todo`` (part of batch ``number``; nothing if empty)."""
        if not todo:
            return
        kill_point("main.between_batches" if number else "main.before_send", self.workdir, cycle)
        self.journal.mark_sending([o.client_id for o in todo], self.clock.ms())
        placed = self._place(todo)
        kill_point("main.after_accept", self.workdir, cycle)
        self._record(cycle, placed)

    def _send_all(self, cycle: int, batches: list[tuple[OrderRequest, ...]]) -> None:
        """Count every order, hand all ``batches`` over at once, journal each batch's answer.

        The gateway (``place_batches``) sends them one after the other and reports each
        batch as it is acknowledged. A batch it refuses whole (``OrderRejectedError``:
        it and the ones after it were not placed) is sent again alone to find the
        culprit (:meth:`_place`), and the ones after it batch by batch.
        """
        if not batches:
            return
        kill_point("main.before_send", self.workdir, cycle)
        self.journal.mark_sending([o.client_id for b in batches for o in b], self.clock.ms())
        answered = 0

        def acknowledged(number: int, placed: list[Order]) -> None:
            nonlocal answered
            kill_point("main.after_accept", self.workdir, cycle)
            self._record(cycle, placed)
            answered = number + 1
            if answered < len(batches):
                kill_point("main.between_batches", self.workdir, cycle)

        try:
            assert isinstance(self.gateway, StreamsBatches)  # checked by the caller
            self.gateway.place_batches(batches, acknowledged)
        except OrderRejectedError as exc:
            log.warning("cycle %s: batch %d refused whole (%s)", cycle, answered, exc)
            for number in range(answered, len(batches)):
                self._send(cycle, number, list(batches[number]))

    @property
    def _clips_buys(self) -> bool:
        """Tell whether spot buys are clipped to the free quote before they are sent."""
        spot = getattr(self.gateway, "market_type", None) is MarketType.SPOT
        return spot and callable(getattr(self.gateway, "reference_prices", None))

    def _affordable(self, cycle: int, buys: list[OrderRequest]) -> list[OrderRequest]:
        """Return ``buys`` clipped to the free quote after the cycle's sells (module doc).

        The cycle's sells not yet known final are looked up first (a sell still open
        leaves less free quote: the buys shrink, never fail). A buy clipped keeps its
        client id; the journal records its new amount and a ``buy_clipped`` event. One
        that no longer reaches the market's minimum is skipped (never sent), with a
        warning.
        """
        if not buys:
            return []
        self._settle_sells(cycle)
        free = self.gateway.balance().free
        symbols = sorted({o.symbol for o in buys})
        prices: dict[str, Decimal] = self.gateway.reference_prices(  # type: ignore[attr-defined]
            symbols, fresh=True
        )
        markets = self.gateway.markets()
        left = free
        out: list[OrderRequest] = []
        for order in buys:
            price, market = prices.get(order.symbol), markets.get(order.symbol)
            if price is None or market is None:  # the gateway refuses it with the reason
                out.append(order)
                continue
            amount = affordable(market, order.amount, price, max(left, Decimal(0)))
            if amount != order.amount:
                why = (
                    f"spot buy {order.client_id} {order.amount} {order.symbol} costs "
                    f"{order.amount * market.contract_size * price} at {price}, the free quote "
                    f"left after the cycle's sells is {left}"
                )
                short = market.below_minimum(amount, price)
                if short is not None:
                    reason = f"{why}: skipped (not sent), {amount} is too small: {short}"
                    self.journal.mark_skipped(order.client_id, reason, self.clock.ms())
                    if self.alerts is not None:
                        self.alerts.warning("buy_skipped", reason, self.clock.ms(), cycle)
                    else:
                        log.warning("%s", reason)
                    continue
                reason = f"{why}: clipped to {amount}"
                log.info("cycle %s: %s", cycle, reason)
                self.journal.resize_order(order.client_id, amount, self.clock.ms())
                self.journal.event("info", "buy_clipped", reason, self.clock.ms(), cycle)
                order = replace(order, amount=amount)
            left -= amount * market.contract_size * price
            out.append(order)
        return out

    def _settle_sells(self, cycle: int) -> None:
        """Look up the cycle's sent sells not yet final while they fill (a few times at most)."""
        for attempt in range(FLIP_CHECKS):
            pending = [
                row
                for row in self.journal.orders(cycle)
                if row.side == Side.SELL.value
                and row.sends > 0
                and row.status not in FINAL_ORDER_STATES
            ]
            if not pending:
                return
            if attempt:
                if self.clock.stepped:
                    return
                time.sleep(self.clock.real_seconds(FLIP_WAIT))
            seen = [self.gateway.fetch_order(row.client_id, row.symbol) for row in pending]
            found = [order for order in seen if order is not None]
            if found:
                self._record(cycle, found)
            if len(found) < len(seen):
                return  # not seen: waiting does not help (the clip takes what is free)

    @property
    def _fills_in_order(self) -> bool:
        """Tell whether the gateway fills the account's orders completely, in placement order."""
        return bool(getattr(self.gateway, "fills_in_order", False))

    def _cleared(
        self, cycle: int, held: list[OrderRequest], flips: dict[str, str]
    ) -> list[OrderRequest]:
        """Return the open legs of ``held`` whose close leg (``flips``, sent before) is cleared.

        A close is cleared once it is looked up filled completely; on a ``fills_in_order``
        gateway once it is accepted (open or filled): that gateway fills it completely
        before any order placed after it, so the open leg cannot meet the old position.
        Closes still open or partly filled (or not yet seen) are looked up again, at most
        :data:`FLIP_CHECKS` times in all, :data:`FLIP_WAIT` seconds of session time apart;
        a stepped replay clock holds still during a cycle, so there they are looked up
        once. The open leg of a close that is rejected, canceled or still unfilled after
        the last look-up is journaled as skipped (never sent) and alerted
        (:meth:`_skip_open_leg`).
        """
        if not held:
            return []
        # a close the exchange already refused (the answer to its batch) will not fill
        refused = {
            row.client_id: f"{row.status}: {row.reason}"
            for row in self.journal.orders(cycle)
            if row.status in (OrderStatus.REJECTED.value, OrderStatus.CANCELED.value)
        }
        states = {o.client_id: refused.get(flips[o.symbol], "not found") for o in held}
        waiting = {o.client_id: o for o in held if flips[o.symbol] not in refused}
        cleared: set[str] = set()
        for attempt in range(FLIP_CHECKS):
            if not waiting:
                break
            if attempt:
                if self.clock.stepped:
                    break
                time.sleep(self.clock.real_seconds(FLIP_WAIT))
            looked = {
                cid: self.gateway.fetch_order(flips[o.symbol], o.symbol)
                for cid, o in waiting.items()
            }
            found = [order for order in looked.values() if order is not None]
            if found:
                self._record(cycle, found)
            for cid, close in looked.items():
                if close is None:
                    continue  # acknowledged but not yet visible: look again
                states[cid] = f"{close.status} {close.filled}/{close.amount}"
                if (
                    close.status is OrderStatus.FILLED
                    or close.filled >= close.amount
                    or (self._fills_in_order and close.status in ACCEPTED)
                ):
                    cleared.add(cid)
                    del waiting[cid]
                elif close.status not in ACCEPTED:  # rejected or canceled: it will not fill
                    del waiting[cid]
        for order in held:
            if order.client_id not in cleared:
                self._skip_open_leg(cycle, order, flips[order.symbol], states[order.client_id])
        return [o for o in held if o.client_id in cleared]

    def _skip_open_leg(self, cycle: int, order: OrderRequest, close_id: str, state: str) -> None:
        """Journal the open leg ``order`` of a flip as skipped (never sent) and alert it."""
        reason = (
            f"open leg {order.client_id} {order.side} {order.amount} {order.symbol} "
            f"skipped (not sent): its close leg {close_id} is not fully filled ({state}); "
            "the next cycle plans again from the real position"
        )
        self.journal.mark_skipped(order.client_id, reason, self.clock.ms())
        if self.alerts is not None:
            self.alerts.error("auto_trade", reason, self.clock.ms(), cycle, kind="flip_skipped")
        else:
            log.error("%s", reason)

    def _prepare(self, symbols: list[str]) -> Callable[[], None]:
        """Start readying the gateway for ``symbols``; return a call that waits for it.

        A ccxt gateway sets leverage and margin mode of new symbols and refreshes the
        reference prices of its pre-send checks on one of its threads, while this
        thread writes the journal; other gateways need nothing.
        """
        start = getattr(self.gateway, "prepare_in_background", None)
        if start is None or not symbols:
            return lambda: None
        future: Future[None] = start(symbols)
        return lambda: future.result()

    def _place(self, batch: list[OrderRequest]) -> list[Order]:
        """Send a batch; if the gateway refuses it whole, send one by one to find the culprit.

        Exchange rejections come back per order (status ``REJECTED``); only input the
        ccxt gateway refuses before sending anything (amount below the minimum at the
        current price, unknown symbol) fails the whole batch, so nothing was sent yet.
        """
        try:
            return self.gateway.place_orders(batch)
        except OrderRejectedError as exc:
            if len(batch) == 1:
                return [rejected_order(batch[0], str(exc))]
        return [placed for order in batch for placed in self._place([order])]

    def _record(self, cycle: int, orders: list[Order]) -> None:
        """Journal what the exchange said about ``orders`` (one transaction); alert rejections."""
        self.journal.record_orders(orders, self.clock.ms())
        for order in orders:
            if order.status is not OrderStatus.REJECTED:
                continue
            message = (
                f"order {order.client_id} {order.side} {order.amount} {order.symbol} "
                f"was rejected: {order.reason}"
            )
            if self.alerts is not None:
                self.alerts.error(
                    "auto_trade", message, self.clock.ms(), cycle, kind="order_rejected"
                )
            else:
                log.error("%s", message)

    def refresh_orders(self) -> None:
        """Update every sent order the journal does not yet know as final.

        An order whose recorded fills add up to its amount is filled (no request);
        any other is looked up at the exchange by its client id.
        """
        rows = self.journal.open_orders()
        filled = self.journal.filled_by_fills(row.client_id for row in rows)
        updates: list[Order] = []
        for row in rows:
            done = filled.get(row.client_id)
            if done is not None and done[0] >= row.amount:
                amount, average_price, exchange_id = done
                updates.append(
                    Order(
                        client_id=row.client_id,
                        symbol=row.symbol,
                        side=Side(row.side),
                        amount=row.amount,
                        status=OrderStatus.FILLED,
                        exchange_id=exchange_id or row.exchange_id,
                        filled=amount,
                        average_price=average_price,
                        reduce_only=row.reduce_only,
                    )
                )
                continue
            seen = self.gateway.fetch_order(row.client_id, row.symbol)
            if seen is not None and seen.status.value != row.status:
                updates.append(seen)
        if updates:
            self.journal.record_orders(updates, self.clock.ms())

    def sync_fills(self, since: datetime | None = None) -> list[Fill]:
        """Record the session symbols' fills not yet recorded; return the new ones.

        ``since`` defaults to the newest recorded fill (or the session's start).
        """
        ours_ids = self.journal.client_ids()
        row = self.journal.session_row()
        epoch = row.baseline_epoch if row is not None else 0
        if since is None:
            last = self.journal.last_fill_ms()
            since = from_ms(last if last is not None else (row.started_ms if row else 0))
        fills = self._owned(self.gateway.fills(since, self.symbols))

        def ours(fill: Fill) -> bool:
            return (fill.client_id in ours_ids) or fill.reason is not FillReason.REBALANCE

        # a gateway that links fired SL/TP triggers to their fills (Bitget) marks them by
        # reason; elsewhere the journal falls back to matching the journaled stops' prices
        exact = bool(getattr(self.gateway, "links_stop_fills", False))
        new = self.journal.record_fills(
            (f for f in fills if f.symbol in self.symbols), ours, epoch, exact_stops=exact
        )
        self.refresh_orders()
        for fill in new:
            if fill.client_id and fill.client_id in ours_ids:
                continue
            if fill.reason is not FillReason.REBALANCE:
                log.info("recorded %s fill of %s %s", fill.reason, fill.amount, fill.symbol)
        return new

    def _owned(self, fills: list[Fill]) -> list[Fill]:
        """Give the fills a venue reports without a client id their order's, by order id.

        Bitget's spot fills name the order only by its exchange id. The journal knows
        the exchange id of every acknowledged order; orders sent but never acknowledged
        (a crash after sending) are looked up by client id first when a fill names an
        order the journal cannot place.
        """
        anonymous = {f.order_id for f in fills if not f.client_id and f.order_id}
        if not anonymous:
            return fills
        known = self.journal.exchange_ids()
        if not anonymous <= set(known):
            unacknowledged = [
                row
                for row in self.journal.open_orders()
                if not row.exchange_id and row.status != "missing"
            ]
            found = [self.gateway.fetch_order(r.client_id, r.symbol) for r in unacknowledged]
            seen = [order for order in found if order is not None]
            if seen:
                self.journal.record_orders(seen, self.clock.ms())
                known = self.journal.exchange_ids()
        return [
            replace(f, client_id=known[f.order_id])
            if not f.client_id and f.order_id in known
            else f
            for f in fills
        ]
