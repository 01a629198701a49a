"""Spot in live sessions: the trader's equity and cash, the journal's book, buys after sells.

- ``trader_portfolio`` counts the holdings at the mark (a venue reports no entry price,
  so its holdings come with entry = mark and its wallet is the USDT alone) and passes
  the free quote as the planner's cash; a paper gateway's wallet (cash + cost basis)
  gives the same equity.
- ``Journal.book`` nets fees charged in the base coin, as the venue's balance does.
- Spot dust below the market's minimum (which the gateways do not report) reconciles.
- The executor sends a batch's spot buys after its sells, clipped to the free quote at
  the gateway's price, so a rotation's last buy is never rejected for the sell's fee.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, Order, OrderRequest, OrderStatus, Side, client_order_id
from aifap.core.planner import Plan, plan
from aifap.core.portfolio import Position
from aifap.core.weights import TargetWeight
from aifap.db import make_engine, migrate
from aifap.exchange.gateway import Balance, account_wallet
from aifap.live.clock import SessionClock
from aifap.live.config import SessionConfig
from aifap.live.execution import Executor
from aifap.live.journal import Journal
from aifap.live.planning import session_wallet, trader_portfolio
from aifap.live.recovery import foreign_differences

SPOT = {
    "BTCUSDT": MarketSpec(
        "BTCUSDT", MarketType.SPOT, "BTC", "USDT", Decimal("0.001"), min_amount=Decimal("0.001")
    ),
    "ETHUSDT": MarketSpec(
        "ETHUSDT", MarketType.SPOT, "ETH", "USDT", Decimal("0.01"), min_amount=Decimal("0.01")
    ),
}
PRICES = {"BTCUSDT": Decimal(60_000), "ETHUSDT": Decimal(3_000)}
FEE = Decimal("0.001")


def _config(market: str = "spot", allocation: str = "6040") -> SessionConfig:
    return SessionConfig(
        trader="t",
        strategy_name="s",
        strategy="s.py",
        symbols=("BTCUSDT", "ETHUSDT"),
        allocation=Decimal(allocation),
        market=MarketType(market),
        leverage=1,
    )


class _Account:
    def __init__(self, balance: Balance, positions: list[Position]) -> None:
        self._balance = balance
        self._positions = positions

    def balance(self) -> Balance:
        return self._balance

    def positions(self) -> list[Position]:
        return self._positions


def _btc(size: str, entry: Decimal = PRICES["BTCUSDT"]) -> Position:
    return Position("BTCUSDT", Decimal(size), entry, PRICES["BTCUSDT"])


# --- the trader's equity and cash ------------------------------------------------------


def test_spot_equity_counts_the_holdings_at_the_mark_and_cash_is_the_free_quote():
    # a venue: the wallet is the USDT alone, holdings come with entry = mark
    venue = _Account(Balance("USDT", Decimal(40), Decimal(40)), [_btc("0.1")])
    portfolio = trader_portfolio(venue, _config(), Decimal(6040))  # type: ignore[arg-type]
    assert portfolio.equity == Decimal(6040)  # 40 + 0.1 × 60000
    assert portfolio.cash == Decimal(40)
    assert portfolio.weight("BTCUSDT") == Decimal(6000) / Decimal(6040)
    # weight 1.0 held: nothing to do (the coins count, so no sell of what is held)
    targets = {"BTCUSDT": TargetWeight("BTCUSDT", Decimal(1))}
    assert plan(targets, portfolio, SPOT, PRICES).orders == ()


def test_a_paper_wallet_with_the_cost_basis_gives_the_same_equity():
    # the paper ledger: wallet = cash + cost basis, the entry is the real one
    paper = _Account(
        Balance("USDT", Decimal(40) + Decimal(5000), Decimal(40)), [_btc("0.1", Decimal(50_000))]
    )
    portfolio = trader_portfolio(paper, _config(), Decimal(6040))  # type: ignore[arg-type]
    assert portfolio.equity == Decimal(6040)
    assert portfolio.cash == Decimal(40)
    assert session_wallet(paper, _config()) == Decimal(5040)  # type: ignore[arg-type]


def test_spot_on_a_shared_account_counts_only_the_trader_s_allocation_and_cash():
    # 10 000 USDT more in the account than the trader's 6040, there since the first start
    venue = _Account(Balance("USDT", Decimal(10_040), Decimal(10_040)), [_btc("0.1")])
    portfolio = trader_portfolio(venue, _config(), Decimal(16_040))  # type: ignore[arg-type]
    assert portfolio.equity == Decimal(6040)
    assert portfolio.cash == Decimal(40)
    # holdings of other symbols are not the session's
    other = Position("SOLUSDT", Decimal(10), Decimal(150), Decimal(150))
    assert account_wallet(
        Balance("USDT", Decimal(1), Decimal(1)), [other], MarketType.FUTURES
    ) == Decimal(1)


def test_futures_portfolio_is_unchanged():
    account = _Account(
        Balance("USDT", Decimal(5000), Decimal(4000)),
        [Position("BTCUSDT", Decimal("0.1"), Decimal(50_000), Decimal(60_000), Decimal(2))],
    )
    portfolio = trader_portfolio(account, _config("futures", "5000"), Decimal(5000))  # type: ignore[arg-type]
    assert portfolio.balance == Decimal(5000)
    assert portfolio.cash is None
    assert portfolio.equity == Decimal(6000)  # + uPnL 1000


def test_a_spot_rotation_is_capped_at_the_cash_live():
    venue = _Account(Balance("USDT", Decimal(40), Decimal(40)), [_btc("0.1")])
    portfolio = trader_portfolio(venue, _config(), Decimal(6040))  # type: ignore[arg-type]
    targets = {"ETHUSDT": TargetWeight("ETHUSDT", Decimal(1))}
    sell, buy = plan(targets, portfolio, SPOT, PRICES).orders
    assert (sell.side, sell.amount, buy.side) == (Side.SELL, Decimal("0.1"), Side.BUY)
    assert buy.amount * PRICES["ETHUSDT"] <= 40 + Decimal("0.1") * PRICES["BTCUSDT"]


# --- the journal's book ----------------------------------------------------------------


def _fill(symbol: str, side: Side, amount: str, fee: str, coin: str, n: int) -> Fill:
    return Fill(
        symbol=symbol,
        side=side,
        amount=Decimal(amount),
        price=PRICES.get(symbol, Decimal(100)),
        fee=Decimal(fee),
        timestamp=datetime(2024, 1, 1, 0, n, tzinfo=UTC),
        client_id=f"c{n}",
        fee_currency=coin,
        trade_id=f"t{n}",
    )


def test_journal_book_nets_fees_charged_in_the_base_coin(db_url):
    migrate(db_url)
    journal = Journal(make_engine(db_url), "s")
    fills = [
        _fill("BTCUSDT", Side.BUY, "0.117", "0.000117", "BTC", 1),  # spot buy: fee in BTC
        _fill("BTCUSDT", Side.SELL, "0.05", "3", "USDT", 2),  # spot sell: fee in USDT
        _fill("ETHUSDT", Side.BUY, "2", "0.5", "BNB", 3),  # a third coin: not the holding's
        _fill("BNBUSDT", Side.SELL, "1", "0.001", "BNB", 4),  # a sell paying in the base
    ]
    journal.record_fills(fills, lambda f: True, 0)
    assert journal.book(0) == {
        "BTCUSDT": Decimal("0.066883"),
        "ETHUSDT": Decimal(2),
        "BNBUSDT": Decimal("-1.001"),
    }


# --- dust --------------------------------------------------------------------------------


def test_spot_dust_below_the_minimum_reconciles_with_nothing_held():
    dust = {"BTCUSDT": Decimal("0.00088")}
    assert foreign_differences(dust, {}, SPOT) == []
    assert foreign_differences(dust, dust, SPOT) == []
    assert foreign_differences({}, {"BTCUSDT": Decimal("0.0004")}, SPOT) == []  # leftovers
    assert foreign_differences(dust, {"BTCUSDT": Decimal("0.0004")}, SPOT) == []
    assert foreign_differences({"BTCUSDT": Decimal("0.0012")}, {}, SPOT)  # not dust
    assert foreign_differences({}, {"BTCUSDT": Decimal("0.0012")}, SPOT)
    futures = {
        "BTCUSDT": MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", min_amount=Decimal(1))
    }
    assert foreign_differences({"BTCUSDT": Decimal("0.5")}, {}, futures)


# --- the executor: buys after sells, clipped to the free quote ------------------------------


class _Venue:
    """A spot venue: market orders fill at once; a buy costing more than the free USDT fails."""

    market_type = MarketType.SPOT

    def __init__(self, usdt: Decimal, coins: dict[str, Decimal], prices: dict[str, Decimal]):
        self.usdt = usdt
        self.coins = dict(coins)
        self.prices = prices
        self.calls: list[list[tuple[str, Decimal]]] = []
        self.orders: dict[str, Order] = {}

    def markets(self) -> dict[str, MarketSpec]:
        return SPOT

    def balance(self) -> Balance:
        return Balance("USDT", self.usdt, self.usdt)

    def reference_prices(self, symbols: Sequence[str], *, fresh: bool = False) -> dict:
        return {s: self.prices[s] for s in symbols}

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        self.calls.append([(o.symbol, o.amount) for o in batch])
        out = []
        for o in batch:
            cost = o.amount * self.prices[o.symbol]
            base = o.symbol.removesuffix("USDT")
            if o.side is Side.BUY and cost > self.usdt:
                out.append(
                    Order(
                        o.client_id,
                        o.symbol,
                        o.side,
                        o.amount,
                        OrderStatus.REJECTED,
                        reason="43012 Insufficient balance of USDT",
                    )
                )
                continue
            if o.side is Side.BUY:
                self.usdt -= cost
                self.coins[base] = self.coins.get(base, Decimal(0)) + o.amount * (1 - FEE)
            else:
                self.coins[base] -= o.amount
                self.usdt += cost * (1 - FEE)
            status = OrderStatus.OPEN  # acknowledged; the look-up says filled
            out.append(Order(o.client_id, o.symbol, o.side, o.amount, status, exchange_id="x"))
            self.orders[o.client_id] = Order(
                o.client_id, o.symbol, o.side, o.amount, OrderStatus.FILLED, filled=o.amount
            )
        return out

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        return self.orders.get(client_id)

    def set_stops(self, *args: Any, **kwargs: Any) -> None:
        pass

    def fills(self, *args: Any) -> list[Any]:
        return []

    def positions(self) -> list[Position]:
        return [
            Position(f"{coin}USDT", size, self.prices[f"{coin}USDT"], self.prices[f"{coin}USDT"])
            for coin, size in sorted(self.coins.items())
            if size > 0
        ]


def _execute(db_url, tmp_path, venue: Any, the_plan: Plan) -> Journal:
    migrate(db_url)
    journal = Journal(make_engine(db_url), "s")
    journal.start_cycle(3, 0, 0)
    clock = SessionClock(multiprocessing.get_context("fork"), "wall")
    Executor(venue, journal, clock, tmp_path, list(SPOT)).execute(3, the_plan)
    return journal


def test_a_rotation_planned_at_the_mark_is_never_rejected_for_the_sell_fee(db_url, tmp_path):
    # all in BTC, rotate all of it into ETH: the plan counts the sell at the mark before
    # its 0.1 % fee (30 + 6000 buys 2.01 ETH = 6030), the venue pays the fee out of the
    # USDT received (30 + 5994 = 6024 free): the buy shrinks to 2.00 instead of failing
    venue = _Venue(Decimal(30), {"BTC": Decimal("0.1")}, dict(PRICES))
    portfolio = trader_portfolio(venue, _config(allocation="6030"), Decimal(6030))  # type: ignore[arg-type]
    targets = {"ETHUSDT": TargetWeight("ETHUSDT", Decimal(1))}
    the_plan = plan(targets, portfolio, SPOT, PRICES, session_id="s", cycle=3)
    assert [o.amount for o in the_plan.orders] == [Decimal("0.1"), Decimal("2.01")]
    journal = _execute(db_url, tmp_path, venue, the_plan)
    assert venue.calls == [[("BTCUSDT", Decimal("0.1"))], [("ETHUSDT", Decimal("2.00"))]]
    assert all(o.status == "filled" for o in journal.orders(3))
    assert venue.usdt == Decimal(24)


def test_spot_buys_go_after_the_sells_clipped_to_the_free_quote(db_url, tmp_path):
    # the price moved up since the plan: 2.01 ETH now costs 6231 of the 6034 free
    venue = _Venue(Decimal(40), {"BTC": Decimal("0.1")}, {**PRICES, "ETHUSDT": Decimal(3100)})
    ids = {
        s: client_order_id("s", 3, s, leg) for s, leg in (("BTCUSDT", "close"), ("ETHUSDT", "open"))
    }
    sell = OrderRequest(ids["BTCUSDT"], "BTCUSDT", Side.SELL, Decimal("0.1"), True, leg="close")
    buy = OrderRequest(ids["ETHUSDT"], "ETHUSDT", Side.BUY, Decimal("2.01"), leg="open")
    journal = _execute(db_url, tmp_path, venue, Plan(orders=(sell, buy)))
    clipped = Decimal("1.94")  # floor(6034 / 3100, 0.01)
    assert venue.calls == [[("BTCUSDT", Decimal("0.1"))], [("ETHUSDT", clipped)]]
    row = next(o for o in journal.orders(3) if o.symbol == "ETHUSDT")
    assert (row.amount, row.sends) == (clipped, 1)
    [event] = journal.events("buy_clipped")
    assert "clipped to 1.94" in event.message
    assert venue.usdt >= 0


def test_a_buy_the_free_quote_no_longer_covers_is_skipped_not_rejected(db_url, tmp_path):
    venue = _Venue(Decimal("10"), {}, dict(PRICES))
    buy = OrderRequest(
        client_order_id("s", 3, "BTCUSDT", "open"), "BTCUSDT", Side.BUY, Decimal("0.1"), leg="open"
    )
    journal = _execute(db_url, tmp_path, venue, Plan(orders=(buy,)))
    assert venue.calls == []
    [row] = journal.orders(3)
    assert (row.status, row.sends) == ("skipped", 0)
    assert "too small" in (row.reason or "")


def test_a_gateway_without_reference_prices_sends_the_batch_as_planned(db_url, tmp_path):
    # the paper gateway fills at the next bar and caps the buy there: no clip, one batch
    venue = _Venue(Decimal(40), {"BTC": Decimal("0.1")}, dict(PRICES))
    venue.reference_prices = None  # type: ignore[assignment]
    sell = OrderRequest(
        client_order_id("s", 3, "BTCUSDT", "close"), "BTCUSDT", Side.SELL, Decimal("0.1"), True
    )
    buy = OrderRequest(
        client_order_id("s", 3, "ETHUSDT", "open"), "ETHUSDT", Side.BUY, Decimal("2.01")
    )
    _execute(db_url, tmp_path, venue, Plan(orders=(sell, buy)))
    assert venue.calls == [[("BTCUSDT", Decimal("0.1")), ("ETHUSDT", Decimal("2.01"))]]


# --- fills a venue reports without a client id ---------------------------------------------


class _Anonymous(_Venue):
    """Bitget spot: fills name their order by exchange id only; acks carry it."""

    def __init__(self) -> None:
        super().__init__(Decimal(10_000), {}, dict(PRICES))
        self.acknowledge = True

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        placed = super().place_orders(batch)
        return [
            Order(o.client_id, o.symbol, o.side, o.amount, o.status, exchange_id=f"x-{o.client_id}")
            if self.acknowledge
            else Order(o.client_id, o.symbol, o.side, o.amount, OrderStatus.PENDING)
            for o in placed
        ]

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        found = self.orders.get(client_id)
        if found is None:
            return None
        return Order(
            client_id,
            symbol,
            found.side,
            found.amount,
            found.status,
            exchange_id=f"x-{client_id}",
            filled=found.filled,
        )

    def fills(self, *args: Any) -> list[Fill]:
        out = []
        for n, (client_id, order) in enumerate(self.orders.items()):
            fee = order.amount * FEE
            out.append(
                Fill(
                    order.symbol,
                    order.side,
                    order.amount,
                    PRICES[order.symbol],
                    fee,
                    datetime(2024, 1, 1, tzinfo=UTC),
                    client_id=None,
                    order_id=f"x-{client_id}",
                    trade_id=f"t{n}",
                    fee_currency="BTC",
                )
            )
        return out


def test_fills_without_a_client_id_are_the_session_s_by_their_order_id(db_url, tmp_path):
    venue = _Anonymous()
    buy = OrderRequest(
        client_order_id("s", 3, "BTCUSDT", "open"), "BTCUSDT", Side.BUY, Decimal("0.1"), leg="open"
    )
    journal = _execute(db_url, tmp_path, venue, Plan(orders=(buy,)))
    [fill] = journal.fills()
    assert (fill.ours, fill.client_id) == (True, buy.client_id)
    assert journal.book(0) == {"BTCUSDT": Decimal("0.0999")}


def test_a_fill_of_an_order_never_acknowledged_is_owned_after_a_look_up(db_url, tmp_path):
    # the session died between sending and the acknowledgement: no exchange id journaled
    venue = _Anonymous()
    venue.acknowledge = False
    buy = OrderRequest(
        client_order_id("s", 3, "BTCUSDT", "open"), "BTCUSDT", Side.BUY, Decimal("0.1"), leg="open"
    )
    journal = _execute(db_url, tmp_path, venue, Plan(orders=(buy,)))
    [fill] = journal.fills()
    assert fill.ours
    assert journal.exchange_ids() == {f"x-{buy.client_id}": buy.client_id}
