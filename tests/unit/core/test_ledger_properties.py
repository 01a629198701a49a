"""Property: equity from the PnL book equals cash + marked positions after every event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import OrderRequest, Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MARKETS = {
    "BTCUSDT": MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", max_leverage=20),
    "ETHUSDT": MarketSpec(
        "ETHUSDT", MarketType.FUTURES, "ETH", "USDT", contract_size=D("0.1"), max_leverage=20
    ),
}
prices = st.decimals("0.5", "5000", places=2)
amounts = st.decimals("0.001", "20", places=3)
trade = st.tuples(
    st.just("trade"), st.sampled_from(sorted(MARKETS)), st.sampled_from(list(Side)), amounts, prices
)
funding = st.tuples(
    st.just("funding"),
    st.sampled_from(sorted(MARKETS)),
    st.decimals("-0.003", "0.003", places=5),
    prices,
)
TOLERANCE = D("1e-12")
events = st.lists(st.one_of(trade, funding), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(events=events, fee=st.decimals("0", "0.002", places=4), bps=st.decimals("0", "20", places=1))
def test_independent_equity_matches_cash_plus_marked_positions(events, fee, bps):
    model = FillModel(NotionalFee(fee), BpsSlippage(bps))
    book = Ledger(10_000, MARKETS, leverage=3)
    capital = D(10_000)
    realized = fees = paid = D(0)
    marks: dict[str, D] = {}
    for kind, symbol, a, b, *rest in events:
        if kind == "trade":
            side, amount, price = a, b, rest[0]
            marks[symbol] = price
            f = model.market_fill(
                OrderRequest("id", symbol, side, amount), MARKETS[symbol], price, T0
            )
            booked = book.apply(f)
            realized += booked.realized_pnl
            fees += f.fee
        else:
            rate, price = a, b
            marks[symbol] = price
            paid += book.apply_funding(symbol, rate, price)
        upnl = sum(
            (
                p.size * p.contract_size * (marks[s] - p.entry_price)
                for s, p in book.positions.items()
            ),
            D(0),
        )
        independent = capital + realized - fees - paid + upnl
        marked = book.cash + sum(
            (p.size * p.contract_size * marks[s] for s, p in book.positions.items()), D(0)
        )
        # exact but for the average entry price, a quotient rounded at 28 digits
        assert abs(independent - marked) < TOLERANCE
        assert abs(independent - book.equity(marks)) < TOLERANCE
