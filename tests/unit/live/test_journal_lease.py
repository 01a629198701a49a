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


def test_one_transaction_journals_a_plan_and_its_acknowledgements(engine):
    journal = Journal(engine, "s2")
    journal.start_cycle(1, 0, 0)
    batches = [[_order("b1"), _order("b2", "ETHUSDT")], [_order("b3", "SOLUSDT")]]
    rows = journal.begin_execution(1, batches, 1, replayed=False)
    assert sorted(rows) == ["b1", "b2", "b3"]
    assert {r.status for r in rows.values()} == {"intended"}
    assert journal.cycle(1).state == "executing"
    again = journal.begin_execution(1, batches, 2, replayed=True)  # a replay adds nothing
    assert [o.client_id for o in journal.orders(1)] == ["b1", "b2", "b3"]
    assert again["b1"].seq == 1
    assert journal.cycle(1).replayed
    acks = [Order(cid, "BTCUSDT", Side.BUY, Decimal("0.01"), OrderStatus.OPEN,
                  exchange_id=f"x{cid}") for cid in ("b1", "b2")]
    journal.record_orders(acks, 3)
    statuses = {o.client_id: (o.status, o.exchange_id) for o in journal.orders(1)}
    assert statuses == {"b1": ("open", "xb1"), "b2": ("open", "xb2"), "b3": ("intended", None)}


def test_fills_add_up_per_order(engine):
    journal = Journal(engine, "s3")
    half = Fill("BTCUSDT", Side.BUY, Decimal("0.004"), Decimal(100), Decimal(0), T,
                client_id="c1", order_id="o1", trade_id="t1")
    rest = Fill("BTCUSDT", Side.BUY, Decimal("0.006"), Decimal(110), Decimal(0), T,
                client_id="c1", order_id="o1", trade_id="t2")
    assert journal.record_fills([half, rest], lambda f: True, 0) == [half, rest]
    assert journal.record_fills([rest, half], lambda f: True, 0) == []
    assert journal.filled_by_fills(["c1", "c2"]) == {"c1": (Decimal("0.010"), Decimal(106), "o1")}


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
