"""The rebalancing planner on small hand-computed cases."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aifap.core.errors import ConfigError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Side, client_order_id
from aifap.core.planner import batches, plan
from aifap.core.portfolio import Portfolio, Position
from aifap.core.weights import TargetWeight


def fut(symbol: str, **kw) -> MarketSpec:
    kw.setdefault("amount_step", D("0.001"))
    kw.setdefault("min_notional", D(5))
    kw.setdefault("max_leverage", 20)
    return MarketSpec(symbol, MarketType.FUTURES, symbol[:-4], "USDT", **kw)


MARKETS = {s: fut(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOTUSDT")}
PRICES = {"BTCUSDT": D(100), "ETHUSDT": D(10), "SOLUSDT": D(1), "XRPUSDT": D(1)}
PRICES |= {"ADAUSDT": D(1), "DOTUSDT": D(1)}


def tw(symbol, weight, tp=None, sl=None):
    return TargetWeight(symbol, D(str(weight)), tp, sl)


def pos(symbol, size, entry, mark=None, **kw):
    return Position(symbol, D(str(size)), D(str(entry)), D(str(mark or entry)), **kw)


def book(balance=1000, *positions):
    return Portfolio(D(balance), {p.symbol: p for p in positions})


def test_none_targets_keep_every_position():
    result = plan(None, book(1000, pos("BTCUSDT", 1, 100)), MARKETS, PRICES)
    assert result.is_empty
    assert result.dropped == ()


def test_open_from_flat_sizes_by_margin_over_equity():
    # equity 1000, weight 0.5, leverage 2 -> notional 1000 at 100 -> 10 contracts
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, PRICES, leverage=2)
    (order,) = result.orders
    assert (order.side, order.amount, order.reduce_only, order.leg) == (
        Side.BUY,
        D(10),
        False,
        "open",
    )
    assert order.client_id == client_order_id("backtest", 0, "BTCUSDT", "open")


def test_amount_is_rounded_toward_zero_to_the_step():
    # 1000 * 0.333 / 10 = 33.3 ETH -> wanted; 0.3333 weight -> 33.33 -> step 0.001 keeps it
    m = {"ETHUSDT": fut("ETHUSDT", amount_step=D("0.1"))}
    result = plan({"ETHUSDT": tw("ETHUSDT", 0.3339)}, book(1000), m, PRICES)
    assert result.orders[0].amount == D("33.3")


def test_threshold_is_strict():
    # held 1 BTC at 100 with equity 1000 -> weight 0.1
    held = book(1000, pos("BTCUSDT", 1, 100))
    at_threshold = plan({"BTCUSDT": tw("BTCUSDT", 0.11)}, held, MARKETS, PRICES, threshold=0.01)
    assert at_threshold.orders == ()
    above = plan({"BTCUSDT": tw("BTCUSDT", 0.1101)}, held, MARKETS, PRICES, threshold=0.01)
    assert above.orders[0].side is Side.BUY


def test_weight_uses_the_mark_price_not_the_entry():
    # entry 100, mark 200: uPnL 100, equity 1000, margin 200 -> weight 0.2
    held = book(900, pos("BTCUSDT", 1, 100))
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.2)}, held, MARKETS, {"BTCUSDT": D(200)})
    assert result.orders == ()
    assert result.current_weights["BTCUSDT"] == D("0.2")
    assert result.equity == D(1000)


def test_target_zero_closes_fully_below_minimum_and_under_threshold():
    # a 0.01 BTC position (notional 1 < min 5, weight 0.001 < threshold) still closes
    held = book(1000, pos("BTCUSDT", "0.01", 100))
    result = plan({"BTCUSDT": tw("BTCUSDT", 0)}, held, MARKETS, PRICES)
    (order,) = result.orders
    assert (order.side, order.amount, order.reduce_only, order.leg) == (
        Side.SELL,
        D("0.01"),
        True,
        "close",
    )


def test_symbol_left_out_is_closed():
    held = book(1000, pos("BTCUSDT", 1, 100), pos("ETHUSDT", -10, 10))
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.1)}, held, MARKETS, PRICES)
    (order,) = result.orders
    assert (order.symbol, order.side, order.amount, order.reduce_only) == (
        "ETHUSDT",
        Side.BUY,
        D(10),
        True,
    )


def test_empty_targets_close_everything():
    held = book(1000, pos("BTCUSDT", 1, 100), pos("ETHUSDT", -10, 10))
    result = plan({}, held, MARKETS, PRICES)
    assert {o.symbol for o in result.orders} == {"BTCUSDT", "ETHUSDT"}
    assert all(o.reduce_only for o in result.orders)


def test_below_minimum_open_is_dropped_with_a_reason():
    # 0.004 weight of 1000 = 4 USDT < 5 USDT minimum notional
    result = plan({"SOLUSDT": tw("SOLUSDT", 0.004)}, book(1000), MARKETS, PRICES, threshold=0)
    assert result.orders == ()
    (leg,) = result.dropped
    assert leg.symbol == "SOLUSDT"
    assert leg.reason == "notional must be >= 5, was 4.000"


def test_amount_rounding_to_zero_is_dropped():
    m = {"BTCUSDT": fut("BTCUSDT", amount_step=D(1), min_notional=D(0))}
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.05)}, book(1000), m, PRICES)
    assert result.orders == ()
    assert result.dropped[0].reason == "amount rounds to 0 at the amount precision"


def test_closes_and_reductions_come_before_opens():
    held = book(
        1000, pos("BTCUSDT", 1, 100), pos("ETHUSDT", 10, 10), pos("SOLUSDT", 100, 1)
    )  # weights 0.1 each, equity 1000 (futures: balance = equity)
    targets = {
        "ADAUSDT": tw("ADAUSDT", 0.2),
        "BTCUSDT": tw("BTCUSDT", 0.3),  # increase
        "ETHUSDT": tw("ETHUSDT", 0.05),  # reduction
        # SOLUSDT left out -> close
    }
    result = plan(targets, held, MARKETS, PRICES)
    legs = [(o.symbol, o.leg, o.reduce_only) for o in result.orders]
    assert legs == [
        ("ETHUSDT", "reduce", True),
        ("SOLUSDT", "close", True),
        ("ADAUSDT", "open", False),
        ("BTCUSDT", "open", False),
    ]
    assert result.orders[0].amount == D(5)
    assert result.orders[3].amount == D(2)


def test_flip_is_a_close_leg_then_an_open_leg():
    held = book(1000, pos("BTCUSDT", 1, 100))
    result = plan({"BTCUSDT": tw("BTCUSDT", -0.2)}, held, MARKETS, PRICES)
    close, open_ = result.orders
    assert (close.leg, close.side, close.amount, close.reduce_only) == (
        "close",
        Side.SELL,
        D(1),
        True,
    )
    assert (open_.leg, open_.side, open_.amount, open_.reduce_only) == (
        "open",
        Side.SELL,
        D(2),
        False,
    )
    assert close.client_id != open_.client_id


def test_flip_with_a_too_small_open_still_closes():
    held = book(1000, pos("BTCUSDT", 1, 100))
    result = plan({"BTCUSDT": tw("BTCUSDT", -0.002)}, held, MARKETS, PRICES)
    assert [o.leg for o in result.orders] == ["close"]
    assert result.dropped[0].leg == "open"


def test_stop_update_when_only_sl_tp_change():
    held = book(1000, pos("BTCUSDT", 1, 100, take_profit=D(110), stop_loss=D(90)))
    target = tw("BTCUSDT", 0.1, tp=D(120), sl=D(95))
    result = plan({"BTCUSDT": target}, held, MARKETS, PRICES)
    assert result.orders == ()
    (update,) = result.stop_updates
    assert (update.take_profit, update.stop_loss) == (D(120), D(95))
    same = plan({"BTCUSDT": tw("BTCUSDT", 0.1, tp=D(110), sl=D(90))}, held, MARKETS, PRICES)
    assert same.is_empty


def test_stops_are_rounded_to_the_price_step_and_ride_on_open_orders():
    m = {"BTCUSDT": fut("BTCUSDT", price_step=D("0.5"))}
    result = plan(
        {"BTCUSDT": tw("BTCUSDT", 0.5, tp=D("105.3"), sl=D("96.9"))}, book(1000), m, PRICES
    )
    assert (result.orders[0].take_profit, result.orders[0].stop_loss) == (D("105.5"), D("97.0"))


def test_client_ids_are_deterministic_and_per_cycle():
    a = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, PRICES, session_id="s", cycle=3)
    b = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, PRICES, session_id="s", cycle=3)
    c = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, PRICES, session_id="s", cycle=4)
    assert a.orders[0].client_id == b.orders[0].client_id != c.orders[0].client_id


def test_missing_price_drops_the_open():
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, {})
    assert result.orders == ()
    assert "price must be" in result.dropped[0].reason


def test_leverage_above_the_market_maximum_is_a_config_error():
    with pytest.raises(ConfigError, match=r"BTCUSDT: leverage must be between 1 and 20, was 21"):
        plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, book(1000), MARKETS, PRICES, leverage=21)


def test_spot_plans_buys_and_reduce_only_sells():
    spot = {
        "BTCUSDT": MarketSpec("BTCUSDT", MarketType.SPOT, "BTC", "USDT", amount_step=D("0.001"))
    }
    held = book(1000, pos("BTCUSDT", 5, 100))  # cost basis in balance: equity 1000
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.2)}, held, spot, PRICES)
    (order,) = result.orders
    assert (order.side, order.amount, order.reduce_only) == (Side.SELL, D(3), True)


def test_batches_of_five_keep_order():
    held = book(1000, *(pos(s, 100, 1) for s in ("SOLUSDT", "XRPUSDT", "ADAUSDT", "DOTUSDT")))
    held = Portfolio(D(1000), dict(held.positions) | {"ETHUSDT": pos("ETHUSDT", 10, 10)})
    result = plan({"BTCUSDT": tw("BTCUSDT", 0.5)}, held, MARKETS, PRICES)
    groups = result.batches()
    assert [len(g) for g in groups] == [5, 1]
    assert [o for g in groups for o in g] == list(result.orders)
    assert groups[1][0].symbol == "BTCUSDT"
    with pytest.raises(ValueError, match="batch size must be >= 1, was 0"):
        batches(result.orders, 0)
