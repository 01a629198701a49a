"""Advance a paper account over completed bars: pending fills, SL/TP, funding.

The within-bar order is the backtester's (``aifap.backtest.engine``), so paper and
backtest book the same fills and fees on the same bars. Per bar time ``t``, in order:

1. orders placed at or before ``t`` fill at the bar's open;
2. SL/TP are checked on the bar's range;
3. funding settling at ``S`` (every 8 h) is booked on the first bar whose close time
   ``t + step`` is at or after ``S`` (the 07:59 bar for 08:00 on 1m bars), at that
   bar's close, on the positions held then; it is recorded at ``S``.

So a settlement at 08:00 sees the book after the 07:59 bar and before the orders that
fill at the 08:00 open. Everything booked in one call is written in the call's
transaction, so a crash never leaves half an advance recorded.

Late bars: the book moves only as far as every symbol in play (held or with a pending
order) has its bars, so a bar that reaches the source after the minute it closed is
still booked, fills, stops and funding alike; a bar still missing ``late_bars`` after
its close counts as a hole (as in the backtester).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import update

from aifap.core.errors import OrderRejectedError
from aifap.core.orders import Fill, OrderRequest, OrderStatus, Side
from aifap.core.timeconv import from_ms, to_ms
from aifap.exchange.paper.models import PaperFill, PaperFunding, PaperOrder

if TYPE_CHECKING:
    from aifap.exchange.paper.gateway import PaperGateway
    from aifap.exchange.paper.tx import PaperTx

FUNDING_MS = 8 * 3600 * 1000


def _px(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _timeframe_ms(timeframe: str) -> int:
    return int(
        pd.Timedelta(
            timeframe.replace("m", "min") if timeframe.endswith("m") else timeframe
        ).total_seconds()
        * 1000
    )


def advance(gw: PaperGateway, tx: PaperTx) -> None:
    """Book everything that happened between the last advance and ``gw.clock()``.

    Runs inside the call's locked transaction ``tx``; books only up to the bars the
    source has (see :func:`_cutoff`), so a bar that arrives late is still booked.
    """
    now_ms = to_ms(gw.clock())
    step = _timeframe_ms(gw.timeframe)
    start_ms = tx.account.processed_until_ms
    pending = gw._pending(tx.session)
    symbols = sorted({o.symbol for o in pending} | set(gw.ledger.positions))
    frames: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        frame = gw.bars.bars(
            symbol, gw.timeframe, start=from_ms(start_ms) if start_ms else None, end=from_ms(now_ms)
        )
        frames[symbol] = frame[frame.index >= pd.Timestamp(start_ms, unit="ms", tz="UTC")]
    cutoff = _cutoff(frames, start_ms, now_ms, step, int(gw.late_bars.total_seconds() * 1000))
    times = sorted(
        {
            int(t.value // 1_000_000)
            for f in frames.values()
            for t in f.index
            if t.value // 1_000_000 + step <= cutoff
        }
    )
    fills: list[tuple[Fill, PaperOrder | None, Decimal | None, Decimal | None]] = []
    funding: list[PaperFunding] = []
    order_updates: list[tuple[int, dict[str, object]]] = []
    waiting = list(pending)
    futures = gw.market_type.value == "futures"
    booked_until: int | None = start_ms or None  # settlements up to here are booked
    for t in times:
        when = from_ms(t)
        rows = {
            s: f.loc[pd.Timestamp(t, unit="ms", tz="UTC")]
            for s, f in frames.items()
            if pd.Timestamp(t, unit="ms", tz="UTC") in f.index
        }
        for order in [o for o in waiting if o.created_ms <= t and o.symbol in rows]:
            waiting.remove(order)
            outcome = _fill(gw, order, _px(rows[order.symbol]["open"]), when)
            if isinstance(outcome, str):
                order_updates.append(
                    (order.id, {"status": OrderStatus.REJECTED.value, "reason": outcome[:200]})
                )
                continue
            fills.append((outcome, order, order.take_profit, order.stop_loss))
            order_updates.append(
                (
                    order.id,
                    {
                        "status": OrderStatus.FILLED.value,
                        "filled": outcome.amount,
                        "average_price": outcome.price,
                    },
                )
            )
        for symbol, bar in rows.items():
            position = gw.ledger.positions.get(symbol)
            if position is None or (position.stop_loss is None and position.take_profit is None):
                continue
            hit = _stop(gw, symbol, bar, when)
            if hit is not None:
                fills.append((hit, None, None, None))
        close_ms = t + step
        if futures:
            lower = t if booked_until is None else booked_until
            for settle_ms in _settlements(lower, close_ms):
                for symbol in sorted(gw.ledger.positions):
                    mark = _close_at(frames.get(symbol), t)
                    if mark is not None:
                        _settle(gw, symbol, settle_ms, mark, funding)
        booked_until = max(booked_until or 0, close_ms)
    _persist(gw, tx, fills, funding, order_updates, max(start_ms, cutoff))


def _cutoff(
    frames: dict[str, pd.DataFrame], start_ms: int, now_ms: int, step: int, late_ms: int
) -> int:
    """Return the time up to which every symbol in play has its bars (bars open before it).

    A symbol is complete up to its last bar's close, or up to ``now - late_ms`` (a bar
    still missing by then is a hole, not late). With no symbol in play nothing can be
    missed, so the book moves to the current bar.
    """
    if not frames:
        return (now_ms // step) * step
    hole_before = ((now_ms - late_ms) // step) * step
    complete = []
    for frame in frames.values():
        last_close = int(frame.index[-1].value // 1_000_000) + step if len(frame) else start_ms
        complete.append(max(last_close, hole_before))
    return min(complete)


def _settlements(after_ms: int, until_ms: int) -> range:
    """Return the funding times ``S`` with ``after_ms < S <= until_ms``."""
    first = (after_ms // FUNDING_MS + 1) * FUNDING_MS
    return range(first, until_ms + 1, FUNDING_MS)


def _close_at(frame: pd.DataFrame | None, t: int) -> Decimal | None:
    """Return the close of the last bar opening at or before ``t`` (a hole: the one before)."""
    if frame is None or frame.empty:
        return None
    upto = frame[frame.index <= pd.Timestamp(t, unit="ms", tz="UTC")]
    return None if upto.empty else _px(upto["close"].iloc[-1])


def _settle(gw: PaperGateway, symbol: str, t: int, mark: Decimal, out: list[PaperFunding]) -> None:
    if symbol not in gw.ledger.positions:
        return
    rates = gw.bars.funding(symbol, start=from_ms(t), end=from_ms(t))
    stamp = pd.Timestamp(t, unit="ms", tz="UTC")
    if stamp not in rates.index:
        return
    rate = _px(rates.loc[stamp])
    paid = gw.ledger.apply_funding(symbol, rate, mark, from_ms(t))
    out.append(
        PaperFunding(
            account=gw.account.name, symbol=symbol, amount=paid, rate=rate, mark=mark, ts_ms=t
        )
    )


def _fill(gw: PaperGateway, order: PaperOrder, price: Decimal, when: object) -> Fill | str:
    spec = gw._markets[order.symbol]
    amount = order.amount
    if order.reduce_only:
        held = gw.ledger.positions.get(order.symbol)
        side = Side(order.side)
        if held is None or (held.size > 0) == (side is Side.BUY):
            return "reduce-only order would not reduce the position"
        amount = min(amount, abs(held.size))
    request = OrderRequest(
        client_id=order.client_id,
        symbol=order.symbol,
        side=Side(order.side),
        amount=amount,
        reduce_only=order.reduce_only,
        take_profit=order.take_profit,
        stop_loss=order.stop_loss,
    )
    try:
        fill = (
            gw.fill_model.market_fill(request, spec, price, when)  # type: ignore[arg-type]
            if spec.is_futures
            else gw.fill_model.market_fill(
                request,
                spec,
                price,
                when,  # type: ignore[arg-type]
                cash=gw.ledger.cash,
            )
        )
        return gw.ledger.apply(fill, take_profit=order.take_profit, stop_loss=order.stop_loss)
    except OrderRejectedError as exc:  # a spot buy the cash no longer covers, a spot short
        return str(exc)


def _stop(gw: PaperGateway, symbol: str, bar: pd.Series, when: object) -> Fill | None:
    from aifap.core.fills import stop_trigger

    position = gw.ledger.positions[symbol]
    hit = stop_trigger(
        position.size,
        position.stop_loss,
        position.take_profit,
        _px(bar["open"]),
        _px(bar["high"]),
        _px(bar["low"]),
    )
    if hit is None:
        return None
    reason, price = hit
    fill = gw.fill_model.stop_fill(position, gw._markets[symbol], reason, Decimal(price), when)  # type: ignore[arg-type]
    return gw.ledger.apply(fill)


def _persist(
    gw: PaperGateway,
    tx: PaperTx,
    fills: list[tuple[Fill, PaperOrder | None, Decimal | None, Decimal | None]],
    funding: list[PaperFunding],
    order_updates: list[tuple[int, dict[str, object]]],
    processed_until: int,
) -> None:
    session = tx.session
    rows = []
    for fill, _order, take_profit, stop_loss in fills:
        row = PaperFill(
            account=gw.account.name,
            symbol=fill.symbol,
            side=fill.side.value,
            amount=fill.amount,
            price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            fee_quote=fill.fee_quote,
            ts_ms=to_ms(fill.timestamp),
            client_id=fill.client_id,
            reason=fill.reason.value,
            take_profit=take_profit,
            stop_loss=stop_loss,
        )
        session.add(row)
        rows.append(row)
    session.add_all(funding)
    for order_id, values in order_updates:
        session.execute(update(PaperOrder).where(PaperOrder.id == order_id).values(**values))
    tx.account.processed_until_ms = processed_until
    if rows or funding or order_updates:
        session.flush()
        for row in rows:
            gw.book.note_fill(row.symbol, row.seq)
        for payment in funding:
            gw.book.note_funding(payment.seq)
        tx.changed()


__all__ = ["advance"]
