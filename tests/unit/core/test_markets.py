from decimal import Decimal

import pytest

from aifap.core.markets import MarketSpec, MarketType, round_price, round_to_step, to_decimal


def spec(**overrides):
    values = {
        "symbol": "BTCUSDT",
        "market_type": MarketType.FUTURES,
        "base": "BTC",
        "quote": "USDT",
        "amount_step": Decimal("0.001"),
        "price_step": Decimal("0.1"),
        "min_amount": Decimal("0.001"),
        "min_notional": Decimal("5"),
        "max_leverage": 125,
    }
    values.update(overrides)
    return MarketSpec(**values)


def test_amounts_round_toward_zero_to_the_step():
    assert round_to_step(Decimal("0.12345"), Decimal("0.001")) == Decimal("0.123")
    assert round_to_step(Decimal("-0.12345"), Decimal("0.001")) == Decimal("-0.123")
    assert round_to_step(Decimal("133.9"), Decimal("1")) == Decimal("133")


def test_prices_round_to_nearest_step():
    assert round_price(Decimal("87200.06"), Decimal("0.1")) == Decimal("87200.1")
    assert round_price(Decimal("0.122784"), Decimal("0.00001")) == Decimal("0.12278")


def test_to_decimal_keeps_the_short_repr_of_floats():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(3) == Decimal("3")


def test_below_minimum_names_the_rule():
    market = spec()
    assert market.below_minimum(Decimal("0"), Decimal("60000")) == (
        "amount rounds to 0 at the amount precision"
    )
    tiny = spec(min_amount=Decimal("0.00001"), amount_step=Decimal("0.00001"))
    assert "notional must be >= 5" in tiny.below_minimum(Decimal("0.00005"), Decimal("60000"))
    assert market.below_minimum(Decimal("0.001"), Decimal("60000")) is None
    small_min = spec(min_amount=Decimal("0.01"), min_notional=Decimal(0))
    assert small_min.below_minimum(Decimal("0.005"), Decimal("60000")).startswith(
        "amount must be >= 0.01"
    )


def test_notional_uses_contract_size():
    market = spec(contract_size=Decimal("0.01"))
    assert market.notional(Decimal("-3"), Decimal("100")) == Decimal("3.00")


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount_step", Decimal("-1")), ("price_step", Decimal("NaN")), ("contract_size", Decimal(0))],
)
def test_invalid_specs_are_refused_with_the_field_named(field, value):
    with pytest.raises(ValueError, match=field):
        spec(**{field: value})
