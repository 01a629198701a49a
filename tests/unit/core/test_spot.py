"""Spot as venues charge it: buy fees in the received base, sell fees in the quote, no debt.

Hand-computed cases for the fill model, the ledger and the planner (the invariants
over random markets are in ``test_spot_properties``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from aifap.core.errors import InsufficientFundsError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, OrderRequest, Side
from aifap.core.planner import plan
from aifap.core.weights import TargetWeight

T0 = datetime(2024, 1, 1, tzinfo=UTC)
F = D("0.001")  # 10 bps, Bitget's spot taker rate
MODEL = FillModel(NotionalFee(F))
BTC = MarketSpec("BTCUSDT", MarketType.SPOT, "BTC", "USDT", amount_step=D("0.0001"))
ETH = MarketSpec("ETHUSDT", MarketType.SPOT, "ETH", "USDT", amount_step=D("0.001"))
MARKETS = {"BTCUSDT": BTC, "ETHUSDT": ETH}


def buy(amount: str, symbol: str = "BTCUSDT", leg: str = "open") -> OrderRequest:
    return OrderRequest(f"{leg}-{symbol}", symbol, Side.BUY, D(amount), leg=leg)


def sell(amount: str | D, symbol: str = "BTCUSDT", leg: str = "reduce") -> OrderRequest:
    return OrderRequest(f"{leg}-{symbol}", symbol, Side.SELL, D(amount), reduce_only=True, leg=leg)


def book_fill(book: Ledger, order: OrderRequest, price: str, model: FillModel = MODEL) -> Fill:
    market = MARKETS[order.symbol]
    fill = model.market_fill(order, market, D(price), T0, cash=book.cash)
    return book.apply(fill)


def check_books(book: Ledger, marks: dict[str, D]) -> None:
    assert book.equity(marks) == book.cash + book.positions_value(marks)


# -- fill model --------------------------------------------------------------------------


def test_spot_buy_fee_is_charged_in_the_base_and_valued_in_quote():
    fill = MODEL.market_fill(buy("0.5"), BTC, D(60_000), T0)
    assert (fill.amount, fill.price) == (D("0.5"), D(60_000))
    assert (fill.fee, fill.fee_currency) == (D("0.0005"), "BTC")  # f × A, exactly
    assert fill.fee_quote == fill.fee_value == D(30)  # f × A × P
    assert fill.notional == D(30_000)  # the quote paid: A × P, no fee on top


def test_spot_sell_fee_is_charged_in_the_quote():
    fill = MODEL.market_fill(sell("0.5"), BTC, D(60_000), T0)
    assert (fill.fee, fill.fee_currency, fill.fee_quote) == (D(30), "USDT", None)
    assert fill.fee_value == D(30)


def test_futures_fee_is_unchanged_in_the_quote():
    fut = MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", max_leverage=20)
    fill = MODEL.market_fill(buy("0.5"), fut, D(60_000), T0, cash=D(0))  # cash: spot only
    assert (fill.amount, fill.fee, fill.fee_currency, fill.fee_quote) == (
        D("0.5"),
        D(30),
        "USDT",
        None,
    )


def test_spot_buy_shrinks_to_the_cash_at_the_fill_price():
    model = FillModel(NotionalFee(F), BpsSlippage(D(10)))  # fills at 60,060
    fill = model.market_fill(buy("1"), BTC, D(60_000), T0, cash=D(60_000))
    assert fill.amount == D("0.9990")  # floor(60,000 / 60,060, step 0.0001)
    assert fill.notional <= 60_000 < (fill.amount + BTC.amount_step) * fill.price


def test_spot_buy_of_which_no_step_fits_is_refused():
    with pytest.raises(InsufficientFundsError, match="BTCUSDT: spot buy cost must be <= the free"):
        MODEL.market_fill(buy("1"), BTC, D(60_000), T0, cash=D(5))


# -- ledger --------------------------------------------------------------------------


def test_buy_and_hold_with_all_the_cash_is_capital_times_one_minus_fee_times_last_over_fill():
    book = Ledger(60_000, MARKETS)
    book_fill(book, buy("1"), "60000")
    held = book.positions["BTCUSDT"]
    assert held.size == D("0.999")  # A × (1 − f)
    assert book.cash == 0  # all the cash, never below
    assert book.fees == D(60)
    last = D(66_000)
    assert book.equity({"BTCUSDT": last}) == D(60_000) * (1 - F) * last / D(60_000)
    check_books(book, {"BTCUSDT": last})


def test_partial_sells_pay_their_fee_in_quote_and_keep_the_entry():
    book = Ledger(60_000, MARKETS)
    book_fill(book, buy("1"), "60000")  # holds 0.999 at 60,000
    booked = book_fill(book, sell("0.4"), "63000")
    assert booked.realized_pnl == D("0.4") * 3_000
    assert book.cash == D("0.4") * 63_000 * (1 - F)
    assert book.positions["BTCUSDT"].size == D("0.599")
    assert book.positions["BTCUSDT"].entry_price == D(60_000)
    check_books(book, {"BTCUSDT": D(61_000)})


def test_full_exit_sells_the_holding_rounded_down_and_leaves_the_dust():
    book = Ledger(1_000, MARKETS)
    book_fill(book, buy("0.333", "ETHUSDT"), "3000")  # holds 0.332667
    assert book.positions["ETHUSDT"].size == D("0.332667")
    result = plan({}, book.portfolio(), MARKETS, {"ETHUSDT": D(3_100)})
    (close,) = result.orders
    assert (close.side, close.amount, close.leg, close.reduce_only) == (
        Side.SELL,
        D("0.332"),
        "close",
        True,
    )
    (dust,) = result.dropped
    assert (dust.leg, dust.amount) == ("close", D("-0.000667"))
    assert "dust: 0.000667 below the amount step 0.001 stays held" in dust.reason
    book_fill(book, close, "3100")
    assert book.positions["ETHUSDT"].size == D("0.000667")
    assert book.cash == D(1_000) - D(999) + D("0.332") * 3_100 * (1 - F)
    check_books(book, {"ETHUSDT": D(3_100)})
    # dust alone is left alone (and not reported again)
    again = plan({}, book.portfolio(), MARKETS, {"ETHUSDT": D(3_100)})
    assert again.orders == ()
    assert again.dropped == ()


def test_a_quote_fee_on_a_spot_buy_still_comes_out_of_the_cash():
    # fills from elsewhere (a venue, an old paper row) may carry the fee in the quote
    book = Ledger(1_000, MARKETS)
    book.apply(Fill("BTCUSDT", Side.BUY, D("0.01"), D(60_000), D("0.6"), T0))
    assert book.positions["BTCUSDT"].size == D("0.01")
    assert book.cash == D(1_000) - D(600) - D("0.6")


# -- planner --------------------------------------------------------------------------


def test_weight_one_on_spot_spends_all_the_cash_with_no_fee_on_top():
    book = Ledger(10_000, MARKETS)
    prices = {"BTCUSDT": D("61234.5")}
    result = plan({"BTCUSDT": TargetWeight("BTCUSDT", D(1))}, book.portfolio(), MARKETS, prices)
    (order,) = result.orders
    assert order.amount == D("0.1633")  # floor(10,000 / 61,234.5, step 0.0001)
    book_fill(book, order, "61234.5")
    assert book.cash == D(10_000) - D("0.1633") * D("61234.5") >= 0


def test_spot_buys_are_capped_at_the_cash_in_symbol_order():
    book = Ledger(10_000, MARKETS)
    portfolio = book.portfolio()
    prices = {"BTCUSDT": D(50_000), "ETHUSDT": D(2_000)}
    targets = {
        "BTCUSDT": TargetWeight("BTCUSDT", D("0.8")),
        "ETHUSDT": TargetWeight("ETHUSDT", D("0.8")),
    }
    # weights above 1 cannot be parsed on spot; the cap is what keeps a buy within cash
    result = plan(targets, portfolio, MARKETS, prices)
    amounts = {o.symbol: o.amount for o in result.orders}
    assert amounts == {"BTCUSDT": D("0.16"), "ETHUSDT": D(1)}  # 8,000 then the 2,000 left


def test_spot_sells_in_the_same_plan_fund_the_buys():
    book = Ledger(10_000, MARKETS)
    book_fill(book, buy("0.2"), "50000")  # all the cash in BTC
    targets = {"ETHUSDT": TargetWeight("ETHUSDT", D("0.99"))}
    result = plan(targets, book.portfolio(), MARKETS, {"BTCUSDT": D(50_000), "ETHUSDT": D(2_000)})
    close, open_ = result.orders
    assert (close.symbol, close.side, close.amount) == ("BTCUSDT", Side.SELL, D("0.1998"))
    # equity 9,990 × 0.99 = 9,890.1 at 2,000, within the 9,990 the sale brings
    assert (open_.symbol, open_.side, open_.amount) == ("ETHUSDT", Side.BUY, D("4.945"))
