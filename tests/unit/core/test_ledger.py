"""The ledger on hand-computed cases: realized PnL, fees, funding, shorts, flips, spot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from aifap.core.errors import OrderRejectedError
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUT = {
    "BTCUSDT": MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", max_leverage=20),
    "ETHUSDT": MarketSpec(
        "ETHUSDT", MarketType.FUTURES, "ETH", "USDT", contract_size=D("0.1"), max_leverage=20
    ),
}
SPOT = {"BTCUSDT": MarketSpec("BTCUSDT", MarketType.SPOT, "BTC", "USDT")}


def fill(side, amount, price, fee="0", symbol="BTCUSDT"):
    return Fill(symbol, side, D(str(amount)), D(str(price)), D(str(fee)), T0)


def check_books(ledger, marks=None):
    """Both books agree: balance + uPnL == cash + marked positions."""
    assert ledger.equity(marks) == ledger.cash + ledger.positions_value(marks)


def test_long_round_trip_with_fees():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 2, 100, fee="0.12"))
    assert book.positions["BTCUSDT"].entry_price == 100
    assert book.equity({"BTCUSDT": D(110)}) == D("1019.88")
    check_books(book, {"BTCUSDT": D(110)})
    booked = book.apply(fill(Side.SELL, 2, 110, fee="0.132"))
    assert booked.realized_pnl == D(20)
    assert book.positions == {}
    assert book.balance == D("1019.748")  # 1000 + 20 - 0.12 - 0.132
    assert book.cash == book.balance
    assert (book.realized_pnl, book.fees) == (D(20), D("0.252"))


def test_short_profits_when_price_falls():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.SELL, 3, 100))
    assert book.unrealized_pnl({"BTCUSDT": D(90)}) == D(30)
    check_books(book, {"BTCUSDT": D(90)})
    assert book.apply(fill(Side.BUY, 1, 90)).realized_pnl == D(10)
    assert book.positions["BTCUSDT"].size == -2
    assert book.positions["BTCUSDT"].entry_price == 100  # a reduction keeps the entry


def test_adding_averages_the_entry():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 1, 100))
    book.apply(fill(Side.BUY, 3, 120))
    assert book.positions["BTCUSDT"].entry_price == D(115)


def test_flip_in_one_fill_realizes_then_opens_at_fill_price():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 1, 100))
    booked = book.apply(fill(Side.SELL, 3, 90))
    assert booked.realized_pnl == D(-10)
    p = book.positions["BTCUSDT"]
    assert (p.size, p.entry_price) == (D(-2), D(90))
    check_books(book, {"BTCUSDT": D(80)})
    assert book.equity({"BTCUSDT": D(80)}) == D(1010)  # 1000 - 10 + 2 * 10


def test_contract_size_scales_pnl_and_cash():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 10, 2000, symbol="ETHUSDT"))  # 10 contracts of 0.1 ETH
    assert book.cash == D(-1000)
    assert book.unrealized_pnl({"ETHUSDT": D(2100)}) == D(100)
    check_books(book, {"ETHUSDT": D(2100)})


def test_leverage_is_recorded_on_futures_positions():
    book = Ledger(1000, FUT, leverage=5)
    book.apply(fill(Side.BUY, 10, 100))
    p = book.positions["BTCUSDT"]
    assert (p.leverage, p.margin) == (D(5), D(200))
    assert book.portfolio({"BTCUSDT": D(100)}).weight("BTCUSDT") == D("0.2")


def test_funding_long_pays_short_receives():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 2, 100))
    assert book.apply_funding("BTCUSDT", D("0.001"), D(110)) == D("0.220")
    assert book.balance == D("999.780")
    assert book.positions["BTCUSDT"].funding_fee == D("0.220")
    check_books(book, {"BTCUSDT": D(110)})
    book.apply(fill(Side.SELL, 4, 110))  # flip to short 2
    assert book.positions["BTCUSDT"].funding_fee == 0
    assert book.apply_funding("BTCUSDT", D("0.001"), D(100)) == D("-0.200")
    assert book.funding == D("0.020")
    assert book.apply_funding("ETHUSDT", D("0.001"), D(100)) == 0  # not held


def test_stops_travel_with_the_fill_and_can_be_replaced():
    book = Ledger(1000, FUT)
    book.apply(fill(Side.BUY, 1, 100), take_profit=D(110), stop_loss=D(95))
    assert (book.positions["BTCUSDT"].take_profit, book.positions["BTCUSDT"].stop_loss) == (
        D(110),
        D(95),
    )
    book.set_stops("BTCUSDT", None, D(97))
    assert (book.positions["BTCUSDT"].take_profit, book.positions["BTCUSDT"].stop_loss) == (
        None,
        D(97),
    )


def test_spot_keeps_cash_and_refuses_shorts():
    book = Ledger(1000, SPOT, leverage=3)
    book.apply(fill(Side.BUY, 2, 100, fee="0.2"))
    assert book.cash == D("799.8")
    assert book.positions["BTCUSDT"].leverage == 1
    check_books(book, {"BTCUSDT": D(120)})
    with pytest.raises(
        OrderRejectedError, match="spot sell amount must be <= the holding 2, was 3"
    ):
        book.apply(fill(Side.SELL, 3, 100))


def test_capital_must_be_positive():
    with pytest.raises(ValueError, match="capital must be a finite number > 0, was 0"):
        Ledger(0, FUT)
