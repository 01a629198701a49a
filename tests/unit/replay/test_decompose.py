"""The PV gap's decomposition on hand-built sides: each component where it belongs, exact sums.

One symbol on 1m bars whose open is 100 + the bar's index (close = the next open); the
backtest fills at the open of the cycle's bar, as the real one does.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pandas as pd
import pytest

from aifap.core.weights import TargetWeight
from aifap.replay.decompose import CATEGORIES, _Gaps, decompose
from aifap.replay.records import CycleView, SideView, Trade
from aifap.replay.rerun import Marks

STEP = 60_000
BARS = 20
D = Decimal
EXACT = Decimal(0)


def _marks() -> Marks:
    index = pd.date_range("2024-06-20", periods=BARS, freq="1min", tz="UTC")
    opens = [100.0 + i for i in range(BARS)]
    frame = pd.DataFrame({"open": opens, "close": [o + 1 for o in opens]}, index=index)
    return Marks(STEP, {"BTCUSDT": frame})


MARKS = _marks()
T0 = int(MARKS.frames["BTCUSDT"].index[0].value // 1_000_000)
END = MARKS.end("BTCUSDT")  # 120


def _at(bar: int) -> int:
    return T0 + bar * STEP


def _cycle(bar: int, weight: str, planned: str, cid: str) -> CycleView:
    view = CycleView(_at(bar), ran=True, targets={"BTCUSDT": TargetWeight("BTCUSDT", D(weight))})
    if D(planned):
        view.planned = {"BTCUSDT": D(planned)}
        view.orders = {"BTCUSDT": [cid]}
    return view


def _fill(bar: int, qty: str, price: str | None = None, cid: str | None = None, fee: str = "0",
          reason: str = "rebalance", ms: int = 0) -> Trade:  # fmt: skip
    price = price if price is not None else str(100 + bar)
    return Trade(_at(bar) + ms, "BTCUSDT", D(qty), D(price), D(fee), "USDT", reason, cid)


def _side(name: str, cycles: list[CycleView], trades: list[Trade], funding: str = "0") -> SideView:
    return SideView(name, {c.time_ms: c for c in cycles}, trades, D(funding), D(0))


def _run(session: SideView, backtest: SideView, tolerance: Decimal = EXACT):
    parts = decompose(session, backtest, MARKS, D(10_000), {"BTCUSDT": "USDT"})
    assert abs(sum(parts.components.values(), D(0)) - parts.gap) <= tolerance
    return parts


def _backtest_buys_one_at_bar_0_and_holds() -> SideView:
    return _side(
        "backtest",
        [_cycle(0, "0.5", "1", "b0"), _cycle(3, "0.5", "0", "b3")],
        [_fill(0, "1", cid="b0", fee="0.06")],
    )


def test_identical_sides_have_no_gap():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(0, "0.5", "1", "s0"), _cycle(3, "0.5", "0", "s3")],
                    [_fill(0, "1", cid="s0", fee="0.06", ms=15)])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.gap == 0
    assert all(parts.components[k] == 0 for k in CATEGORIES)
    assert parts.pv["session"] == D(10_000) + (END - 100) - D("0.06")


def test_a_rejected_order_made_up_at_the_next_cycle_costs_the_move_in_between():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    rejected = _cycle(0, "0.5", "1", "s0")
    rejected.order_states = {"s0": "rejected"}
    session = _side("session", [rejected, _cycle(3, "0.5", "1", "s3")],
                    [_fill(3, "1", cid="s3", fee="0.0618")])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["unfilled"] == -3  # one unit missing from open 100 to open 103
    assert parts.components["fees"] == D("0.06") - D("0.0618")
    assert parts.components["targets"] == parts.components["timing"] == 0
    assert parts.gap == -3 + D("0.06") - D("0.0618")


def test_a_worse_fill_price_is_execution():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(0, "0.5", "1", "s0"), _cycle(3, "0.5", "0", "s3")],
                    [_fill(0, "1", price="100.5", cid="s0", fee="0.06")])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["execution"] == D("-0.5")
    assert parts.gap == D("-0.5")


def test_different_targets_are_charged_from_the_cycle_they_differ_at():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(0, "0.7", "1.4", "s0"), _cycle(3, "0.7", "0", "s3")],
                    [_fill(0, "1.4", cid="s0", fee="0.06")])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["targets"] == D("0.4") * (END - 100)
    assert parts.components["unfilled"] == parts.components["timing"] == 0


def test_the_rest_of_a_partial_fill_a_bar_later_is_timing():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(0, "0.5", "1", "s0"), _cycle(3, "0.5", "0", "s3")],
                    [_fill(0, "0.4", cid="s0", fee="0.024", ms=10),
                     _fill(1, "0.6", cid="s0", fee="0.0366")])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["timing"] == D("-0.6")  # 0.6 missing over open 100 -> 101
    assert parts.components["execution"] == 0  # the rest filled at its bar's open
    assert parts.components["unfilled"] == 0


def test_a_late_rest_undoes_its_own_timing_part_beside_different_targets():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(0, "0.7", "1.4", "s0"), _cycle(3, "0.7", "0", "s3")],
                    [_fill(0, "0.4", cid="s0", ms=10), _fill(2, "1", cid="s0")])  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["targets"] == D("0.4") * (END - 100)
    assert parts.components["timing"] == -2  # 1 unit missing from open 100 to open 102
    assert parts.components["unfilled"] == 0


def test_a_stop_that_fires_on_one_side_only_is_execution_and_timing():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side(
        "session",
        [_cycle(0, "0.5", "1", "s0"), _cycle(3, "0.5", "1", "s3")],
        [_fill(0, "1", cid="s0", fee="0.06"),
         _fill(1, "-1", price="90", reason="stop_loss", ms=30_000),  # gapped through
         _fill(3, "1", cid="s3")],
    )  # fmt: skip
    parts = _run(session, backtest)
    assert parts.components["execution"] == -11  # sold at 90 in a bar that opened at 101
    assert parts.components["timing"] == -2  # out from open 101 to open 103
    assert parts.gap == -13


def test_a_missed_cycle_is_an_order_not_placed():
    backtest = _backtest_buys_one_at_bar_0_and_holds()
    session = _side("session", [_cycle(3, "0.5", "1", "s3")], [_fill(3, "1", cid="s3")])
    parts = _run(session, backtest)
    assert parts.components["unfilled"] == -3
    assert parts.components["fees"] == D("0.06")


@pytest.mark.parametrize("seed", range(40))
def test_the_components_always_add_up_to_the_gap(seed):
    rng = random.Random(seed)
    sides = []
    for name in ("session", "backtest"):
        cycles, trades = [], []
        for bar in range(0, BARS - 2, 3):
            qty = D(rng.randint(-20, 20)) / 10
            cid = f"{name}{bar}"
            cycles.append(_cycle(bar, str(rng.choice([0.1, 0.2])), str(qty), cid))
            if qty and rng.random() < 0.8:
                part = qty * D(rng.choice([1, 1, 0.5]))
                trades.append(_fill(bar, str(part), str(100 + bar + rng.random()), cid,
                                    str(abs(part) * D("0.06"))))  # fmt: skip
                if part != qty and rng.random() < 0.5:
                    trades.append(_fill(bar + 1, str(qty - part), cid=cid))
            if rng.random() < 0.2:
                trades.append(_fill(bar + 2, str(D(rng.randint(-5, 5)) / 10), reason="stop_loss"))
        trades.sort(key=lambda t: t.ts_ms)
        sides.append(_side(name, cycles, trades, funding=str(rng.random())))
    parts = _run(*sides, tolerance=D("1e-18"))  # a shrinking gap divides: 28 digits
    assert parts.components["funding"] == -(sides[0].funding_paid - sides[1].funding_paid)


def test_a_shrinking_gap_keeps_its_mix_and_sums_exactly():
    gaps = _Gaps({"unfilled": D(2), "timing": D(1)})
    gaps.apply(D(-1), "targets")  # shrinks 3 -> 2: both keep two thirds
    assert gaps.total == 2
    assert gaps.parts["unfilled"] == D(2) * D(2) / D(3)
    gaps.apply(D(1), "fees")  # grows: the new part is the label's
    assert gaps.parts["fees"] == 1
    gaps.apply(D(-5), "targets")  # flips: all of it is the new label's
    assert gaps.parts == {"targets": D(-2)}
