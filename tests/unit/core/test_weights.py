"""The strategy output parser: every rule of the contract."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifap.core.errors import InvalidTargetError, StrategyError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.weights import TargetWeight, parse_targets

FUT = {
    s: MarketSpec(s, MarketType.FUTURES, s[:-4], "USDT", max_leverage=20)
    for s in ("BTCUSDT", "ETHUSDT")
}
SPOT = {"BTCUSDT": MarketSpec("BTCUSDT", MarketType.SPOT, "BTC", "USDT")}


def test_none_means_keep_positions():
    assert parse_targets(None, FUT) is None


def test_empty_dict_means_flat():
    assert parse_targets({}, FUT) == {}


def test_float_weights_become_decimals_through_their_repr():
    out = parse_targets({"BTCUSDT": 0.1, "ETHUSDT": -0.2}, FUT)
    assert out == {
        "BTCUSDT": TargetWeight("BTCUSDT", Decimal("0.1")),
        "ETHUSDT": TargetWeight("ETHUSDT", Decimal("-0.2")),
    }


def test_seed_keys_give_take_profit_and_stop_loss():
    spec = {"weight": 0.5, "presetStopSurplusPrice": 105, "presetStopLossPrice": 97}
    out = parse_targets({"BTCUSDT": spec}, FUT, prices={"BTCUSDT": 100})
    assert out["BTCUSDT"] == TargetWeight("BTCUSDT", Decimal("0.5"), Decimal(105), Decimal(97))


def test_alias_keys_are_accepted():
    out = parse_targets({"BTCUSDT": {"weight": 0.5, "take_profit": 110, "stop_loss": 90}}, FUT)
    assert out["BTCUSDT"].take_profit == 110
    assert out["BTCUSDT"].stop_loss == 90


@pytest.mark.parametrize(
    ("output", "symbol", "rule"),
    [
        ({"BTCUSDT": math.nan}, "BTCUSDT", "weight must be a finite number"),
        ({"BTCUSDT": math.inf}, "BTCUSDT", "weight must be a finite number"),
        ({"BTCUSDT": Decimal("NaN")}, "BTCUSDT", "weight must be a finite number"),
        ({"BTCUSDT": 10**400}, "BTCUSDT", "weight must be a finite number"),  # no float holds it
        ({"BTCUSDT": "0.5"}, "BTCUSDT", "weight must be a number"),
        ({"BTCUSDT": True}, "BTCUSDT", "weight must be a number"),
        ({"DOGEUSDT": 0.1}, "DOGEUSDT", "symbol must be one of the session's markets"),
        ({1: 0.1}, "1", "symbol must be a string"),
        ({"BTCUSDT": {"w": 0.1}}, "BTCUSDT", "spec keys must be among"),
        ({"BTCUSDT": {"take_profit": 5}}, "BTCUSDT", "spec must have a 'weight'"),
        ({"BTCUSDT": 0.8, "ETHUSDT": -0.3}, "<strategy output>", "gross weight must be <= 1"),
        ([("BTCUSDT", 0.1)], "<strategy output>", "must be a dict"),
        (
            {"BTCUSDT": {"weight": 0.1, "take_profit": 5, "presetStopSurplusPrice": 6}},
            "BTCUSDT",
            "give only one of",
        ),
        ({"BTCUSDT": {"weight": 0.1, "stop_loss": -1}}, "BTCUSDT", "stop loss must be > 0"),
        ({"BTCUSDT": {"weight": 0.1, "stop_loss": math.inf}}, "BTCUSDT", "stop loss must be a"),
    ],
)
def test_bad_output_names_symbol_and_rule(output, symbol, rule):
    with pytest.raises(InvalidTargetError) as info:
        parse_targets(output, FUT)
    assert info.value.symbol == symbol
    assert rule in info.value.rule
    assert str(info.value).startswith(f"{symbol}: ")
    assert isinstance(info.value, StrategyError)


def test_spot_short_is_rejected():
    with pytest.raises(InvalidTargetError, match=r"BTCUSDT: weight must be >= 0 on spot"):
        parse_targets({"BTCUSDT": -0.1}, SPOT)


def test_gross_limit_is_configurable_and_inclusive():
    assert parse_targets({"BTCUSDT": 0.9, "ETHUSDT": -0.6}, FUT, max_gross_weight=1.5)
    with pytest.raises(InvalidTargetError, match=r"gross weight must be <= 1.5, was 1.6"):
        parse_targets({"BTCUSDT": 1.0, "ETHUSDT": -0.6}, FUT, max_gross_weight=1.5)


@pytest.mark.parametrize(
    ("weight", "key", "price", "rule"),
    [
        (0.5, "stop_loss", 101, "stop loss on a long must be < price 100"),
        (0.5, "stop_loss", 100, "stop loss on a long must be < price 100"),
        (0.5, "take_profit", 99, "take profit on a long must be > price 100"),
        (-0.5, "stop_loss", 99, "stop loss on a short must be > price 100"),
        (-0.5, "take_profit", 101, "take profit on a short must be < price 100"),
    ],
)
def test_stops_on_the_wrong_side_of_price_are_rejected(weight, key, price, rule):
    with pytest.raises(InvalidTargetError) as info:
        parse_targets({"BTCUSDT": {"weight": weight, key: price}}, FUT, prices={"BTCUSDT": 100})
    assert info.value.rule == rule
    assert info.value.value == price


def test_stop_sides_are_not_checked_without_a_price_or_at_weight_zero():
    assert parse_targets({"BTCUSDT": {"weight": 0.5, "stop_loss": 101}}, FUT)
    out = parse_targets({"BTCUSDT": {"weight": 0, "stop_loss": 101}}, FUT, prices={"BTCUSDT": 100})
    assert out["BTCUSDT"].weight == 0


def test_message_says_was():
    with pytest.raises(InvalidTargetError, match=r"^BTCUSDT: stop loss must be > 0, was -1.0$"):
        parse_targets({"BTCUSDT": {"weight": 0.1, "stop_loss": -1}}, FUT)


def test_equal_float_weights_summing_to_one_by_rounding_pass_the_gross_limit():
    markets = {
        f"A{i}USDT": MarketSpec(f"A{i}USDT", MarketType.FUTURES, f"A{i}", "USDT") for i in range(15)
    }
    out = parse_targets(dict.fromkeys(markets, 1.0 / 15), markets)
    assert sum(t.weight for t in out.values()) > 1  # 1.00000000000000005 through the reprs


NAMES = [f"S{i:02d}USDT" for i in range(12)]
MANY = {s: MarketSpec(s, MarketType.FUTURES, s[:-4], "USDT", max_leverage=20) for s in NAMES}


@st.composite
def near_the_gross_limit(draw):
    """Float weights whose gross sits at, or within float rounding of, limit + tolerance."""
    raw = draw(st.lists(st.integers(-1000, 1000).filter(bool), min_size=1, max_size=12))
    limit = draw(st.sampled_from([1.0, 1.5, 0.3]))
    over = draw(st.sampled_from([0.0, 1e-16, 5e-10, 1e-9, 1e-9 + 1e-16, 1e-9 - 1e-16, 2e-9]))
    total = sum(abs(r) for r in raw)
    scale = draw(st.sampled_from([1.0, 1.0 + 2e-16, 1.0 - 2e-16]))
    weights = [r / total * (limit + over) * scale for r in raw]
    return dict(zip(NAMES, weights, strict=False)), limit


@given(case=near_the_gross_limit())
@settings(max_examples=400, deadline=None)
def test_gross_limit_decided_as_the_decimal_sum_of_the_reprs(case):
    # the reference: Σ |Decimal(repr(w))| in output order against limit + 1e-9
    output, limit = case
    gross = Decimal(0)
    for weight in output.values():
        gross += abs(Decimal(repr(weight)))
    bound = Decimal(repr(limit)) + Decimal("1e-9")
    if gross > bound:
        with pytest.raises(InvalidTargetError) as err:
            parse_targets(output, MANY, max_gross_weight=limit)
        assert err.value.value == gross
        assert repr(err.value.value) == repr(gross)
    else:
        assert parse_targets(output, MANY, max_gross_weight=limit) == {
            s: TargetWeight(s, Decimal(repr(w))) for s, w in output.items()
        }
