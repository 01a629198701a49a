from decimal import Decimal

from aifap.core.portfolio import Portfolio, Position


def test_unrealized_pnl_and_weights_of_long_and_short_positions():
    long = Position(
        "BTCUSDT", Decimal("0.1"), Decimal("60000"), Decimal("61000"), leverage=Decimal(2)
    )
    short = Position("ETHUSDT", Decimal("-2"), Decimal("3000"), Decimal("2900"))
    book = Portfolio(Decimal("10000"), {"BTCUSDT": long, "ETHUSDT": short})
    assert long.unrealized_pnl == Decimal("100.0")
    assert short.unrealized_pnl == Decimal("200")
    assert book.equity == Decimal("10300.0")
    # margin at mark: 6100 / 2 = 3050 and 5800 / 1
    assert book.weight("BTCUSDT") == Decimal("3050") / Decimal("10300")
    assert book.weight("ETHUSDT") == Decimal("-5800") / Decimal("10300")
    assert book.weight("SOLUSDT") == 0
    assert long.side == "long"
    assert short.side == "short"


def test_contract_size_scales_pnl_and_margin():
    position = Position(
        "BTCUSDT", Decimal("3"), Decimal("100"), Decimal("110"), contract_size=Decimal("0.01")
    )
    assert position.unrealized_pnl == Decimal("0.30")
    assert position.margin == Decimal("3.30")
