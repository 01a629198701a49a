import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aifap.core.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, Side
from aifap.db import make_engine, migrate
from aifap.live.handoff import HandoffError, read_handoff, write_handoff
from aifap.live.journal import Journal
from aifap.live.lease import Lease, LeaseConflictError

T = datetime(2024, 6, 20, tzinfo=UTC)


@pytest.fixture
def engine(db_url):
    migrate(db_url)
    return make_engine(db_url)


def _order(cid, symbol="BTCUSDT"):
    return OrderRequest(client_id=cid, symbol=symbol, side=Side.BUY, amount=Decimal("0.01"))


def test_intended_orders_are_journaled_once_and_fills_recorded_once(engine):
    journal = Journal(engine, "s1")
    journal.start_cycle(1, 0, 0)
    batch = [_order("a1"), _order("a2", "ETHUSDT")]
    journal.record_intended(1, [batch], 1)
    journal.record_intended(1, [batch], 2)  # a replay journals nothing new
    assert [o.client_id for o in journal.orders(1)] == ["a1", "a2"]
    journal.mark_sending(["a1"], 3)
    journal.record_order(Order("a1", "BTCUSDT", Side.BUY, Decimal("0.01"), OrderStatus.FILLED,
                               filled=Decimal("0.01")), 4)
    rows = {o.client_id: o for o in journal.orders(1)}
    assert rows["a1"].status == "filled"
    assert rows["a1"].sends == 1
    assert rows["a2"].status == "intended"
    assert rows["a2"].sends == 0
    fill = Fill("BTCUSDT", Side.BUY, Decimal("0.01"), Decimal(60000), Decimal("0.3"), T,
                client_id="a1", trade_id="t1")
    stop = Fill("BTCUSDT", Side.SELL, Decimal("0.004"), Decimal(59000), Decimal(0), T,
                reason=FillReason.STOP_LOSS, trade_id="t2")
    hand = Fill("ETHUSDT", Side.BUY, Decimal("1"), Decimal(4000), Decimal(0), T, trade_id="t3")
    ids = journal.client_ids()
    new = journal.record_fills([fill, stop, hand, fill],
                               lambda f: f.client_id in ids or f.reason is not FillReason.REBALANCE,
                               0)
    assert len(new) == 3
    assert journal.record_fills([fill], lambda f: True, 0) == []
    assert journal.book(0) == {"BTCUSDT": Decimal("0.006")}  # the hand trade is not ours


def test_context_state_is_restored_from_the_newest_cycle(engine):
    journal = Journal(engine, "s2")
    assert journal.latest_state() == {}
    journal.start_cycle(1, 0, 0)
    journal.set_cycle(1, state_json=json.dumps({"n": 1}))
    journal.start_cycle(2, 0, 0)
    journal.set_cycle(2, state_json=json.dumps({"n": 2}))
    assert journal.latest_state() == {"n": 2}
    assert journal.next_cycle() == 3


def test_a_second_session_on_the_same_symbols_is_refused(engine):
    first = Lease(engine, "paper:paper:futures:acct", ["BTCUSDT", "ETHUSDT"], "one")
    first.acquire()
    second = Lease(engine, "paper:paper:futures:acct", ["ETHUSDT", "SOLUSDT"], "two")
    with pytest.raises(LeaseConflictError, match="session 'one' trades ETHUSDT"):
        second.acquire()
    Lease(engine, "paper:paper:futures:other", ["ETHUSDT"], "three").acquire()
    fourth = Lease(engine, "paper:paper:futures:acct", ["SOLUSDT"], "four")
    fourth.acquire()
    assert first.renew()
    first.release()
    fourth.release()
    second.acquire()


def test_handoff_is_checked_against_the_cycle(tmp_path):
    write_handoff(tmp_path, {"session_id": "s", "cycle": 3, "plan": {}})
    assert read_handoff(tmp_path, "s", 3)["cycle"] == 3
    with pytest.raises(HandoffError, match="cycle 4"):
        read_handoff(tmp_path, "s", 4)
    assert not list(tmp_path.glob(".*.tmp"))
