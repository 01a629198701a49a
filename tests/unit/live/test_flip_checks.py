"""The executor's flip rule: an open leg goes only once its close leg cannot leave the old side.

On a venue that is once the close is looked up filled completely; where the gateway
fills orders completely in placement order (the paper gateway), once it is accepted.

The exchange is stood in for by a small object answering the close leg's look-ups with
given states (the re-check path the stepped replay clock of the emulator tests cannot
reach); the journal is real, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

import aifap.live.execution as execution
from aifap.core.orders import Order, OrderRequest, OrderStatus, Side, client_order_id
from aifap.core.planner import Plan
from aifap.db import make_engine, migrate
from aifap.live.clock import SessionClock
from aifap.live.execution import Executor
from aifap.live.journal import Journal


class _Gateway:
    """Accepts every order unfilled; the close leg's look-ups answer ``close_states`` in turn."""

    def __init__(
        self, close_id: str, close_states: Sequence[OrderStatus | None], in_order: bool = False
    ) -> None:
        self.fills_in_order = in_order
        self.close_id = close_id
        self.close_states = list(close_states)
        self.lookups = 0
        self.sent: list[str] = []

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        self.sent += [o.client_id for o in batch]
        return [
            Order(
                o.client_id, o.symbol, o.side, o.amount, OrderStatus.OPEN, exchange_id=o.client_id
            )
            if o.client_id != self.close_id or self.close_states
            else Order(
                o.client_id,
                o.symbol,
                o.side,
                o.amount,
                OrderStatus.REJECTED,
                reason="reduce-only order would not reduce the position",
            )
            for o in batch
        ]

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        if client_id != self.close_id:
            return None
        self.lookups += 1
        status = self.close_states[min(self.lookups, len(self.close_states)) - 1]
        if status is None:  # acknowledged, not yet visible
            return None
        filled = Decimal("1") if status is OrderStatus.FILLED else Decimal("0.4")
        return Order(client_id, symbol, Side.SELL, Decimal("1"), status, filled=filled)

    def set_stops(self, *args: Any, **kwargs: Any) -> None:
        pass

    def fills(self, *args: Any) -> list[Any]:
        return []

    def positions(self) -> list[Any]:
        return []


def _flip_plan() -> Plan:
    ids = {leg: client_order_id("s", 2, "BTCUSDT", leg) for leg in ("close", "open")}
    return Plan(
        orders=(
            OrderRequest(ids["close"], "BTCUSDT", Side.SELL, Decimal("1"), True, leg="close"),
            OrderRequest(ids["open"], "BTCUSDT", Side.SELL, Decimal("1"), leg="open"),
            OrderRequest(
                client_order_id("s", 2, "ETHUSDT", "open"), "ETHUSDT", Side.BUY, Decimal("1")
            ),
        )
    )


@pytest.mark.parametrize(
    ("states", "sent_open", "lookups"),
    [
        ([OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED], True, 2),
        ([OrderStatus.OPEN, OrderStatus.OPEN, OrderStatus.FILLED], True, 3),
        ([None, OrderStatus.FILLED], True, 2),
        ([OrderStatus.PARTIALLY_FILLED], False, execution.FLIP_CHECKS),
        ([OrderStatus.OPEN], False, execution.FLIP_CHECKS),
        ([OrderStatus.CANCELED], False, 1),
        ([OrderStatus.REJECTED], False, 1),
        ([], False, 0),  # the close is refused in the answer to its batch: no look-up
    ],
)
def test_flip_open_leg_goes_only_after_its_close_filled(
    db_url, tmp_path, monkeypatch, states, sent_open, lookups
):
    _check_flip(db_url, tmp_path, monkeypatch, _Gateway, states, sent_open, lookups)


@pytest.mark.parametrize(
    ("states", "sent_open"),
    [
        ([OrderStatus.OPEN], True),  # filled after the close at the same bar
        ([OrderStatus.FILLED], True),
        ([OrderStatus.REJECTED], False),
        ([OrderStatus.CANCELED], False),
    ],
)
def test_flip_open_leg_follows_an_accepted_close_where_orders_fill_in_order(
    db_url, tmp_path, monkeypatch, states, sent_open
):
    def in_order(close_id: str, close_states: Sequence[OrderStatus | None]) -> _Gateway:
        return _Gateway(close_id, close_states, in_order=True)

    _check_flip(db_url, tmp_path, monkeypatch, in_order, states, sent_open, 1)


def _check_flip(db_url, tmp_path, monkeypatch, make, states, sent_open, lookups) -> None:
    monkeypatch.setattr(execution, "FLIP_WAIT", 0.001)
    migrate(db_url)
    journal = Journal(make_engine(db_url), "s")
    journal.start_cycle(2, 0, 0)
    plan = _flip_plan()
    close, open_leg, other = plan.orders
    gateway = make(close.client_id, states)
    clock = SessionClock(multiprocessing.get_context("fork"), "wall")
    symbols = ["BTCUSDT", "ETHUSDT"]
    executor = Executor(gateway, journal, clock, tmp_path, symbols)  # type: ignore[arg-type]
    executor.execute(2, plan)
    assert gateway.sent[:2] == [close.client_id, other.client_id]  # the other symbol goes at once
    assert (open_leg.client_id in gateway.sent) is sent_open
    # the flip's look-ups, plus one at the end of the cycle for a close not final yet
    assert gateway.lookups - lookups in (0, 1), gateway.lookups
    row = next(o for o in journal.orders(2) if o.client_id == open_leg.client_id)
    assert (row.status == "skipped") is not sent_open
    assert row.sends == (1 if sent_open else 0)
    if not sent_open:
        assert close.client_id in (row.reason or "")
        assert "not fully filled" in (row.reason or "")
    if not states:
        assert "rejected: reduce-only order would not reduce" in (row.reason or "")
