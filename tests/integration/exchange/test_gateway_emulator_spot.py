"""Spot on the Bitget emulator, through ccxt's real ``bitget`` and our gateway, vs the core.

The emulator charges spot as Bitget does: a buy's fee comes out of the coin received
(``feeDetail.feeCoin`` = the base), a sell's out of the USDT received. The plans come
from the core planner on the core ledger, the orders go through ``CcxtGateway``, and
the gateway's fills are booked on the core ledger: its cash and holdings must match
the emulator's balances to the cent, and each fill must be what the core fill model
predicts at that price. Buy-and-hold with all the cash, partial sells, a full exit.

The emulator rounds fee coins to 1e-8; the core keeps ``f × A`` exact (see
``aifap.core.fills``): the holdings differ by less than 1e-8 of a coin.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aifap.core.fills import FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketType
from aifap.core.orders import Fill, OrderStatus, Side
from aifap.core.planner import plan
from aifap.core.weights import TargetWeight
from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.emulator import BitgetEmulator
from aifap.retry import RetryPolicy

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")
COIN = Decimal("1e-8")
MODEL = FillModel(NotionalFee(Decimal("0.001")))  # the emulator's spot taker rate
CAPITAL = Decimal(10_000)


def _gateway(emu: BitgetEmulator) -> CcxtGateway:
    return CcxtGateway(
        venue="bitget",
        api_key="spot-key",
        secret="spot-secret",
        password="spot-pass",
        api_url=emu.url,
        rate_limit=False,
        market_type=MarketType.SPOT,
        retry=RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.002, jitter=0.001),
        timeout_ms=2_000,
        price_ttl_s=0,  # every batch prices at the emulator's current (pinned) price
    )


class Desk:
    """The core ledger, planner and fill model beside the emulator account."""

    def __init__(self, emu: BitgetEmulator, gateway: CcxtGateway) -> None:
        self.emu = emu
        self.gateway = gateway
        self.markets = {s: m for s, m in gateway.markets().items() if s == "BTCUSDT"}
        self.book = Ledger(CAPITAL, self.markets)
        self.seen = 0

    def rebalance(self, cycle: int, weights: dict[str, float], price: str) -> list[Fill]:
        """Plan on the core book at ``price``, trade through the gateway, book its fills."""
        self.emu.set_price("BTCUSDT", price)
        marks = {"BTCUSDT": Decimal(price)}
        targets = {s: TargetWeight(s, Decimal(str(w))) for s, w in weights.items()}
        result = plan(targets, self.book.portfolio(), self.markets, marks, threshold=0, cycle=cycle)
        for batch in result.batches():
            placed = self.gateway.place_orders(list(batch))
            assert all(o.status is not OrderStatus.REJECTED for o in placed), placed
        fills = self.gateway.fills(SINCE, ["BTCUSDT"])[self.seen :]
        self.seen += len(fills)
        for fill, order in zip(fills, result.orders, strict=True):
            predicted = MODEL.market_fill(
                order, self.markets["BTCUSDT"], fill.price, fill.timestamp
            )
            assert (fill.side, fill.amount, fill.fee_currency) == (
                predicted.side,
                predicted.amount,
                predicted.fee_currency,
            )
            assert abs(fill.fee - predicted.fee) <= COIN  # the emulator rounds fee coins
            self.book.apply(fill)
        self.check()
        return fills

    def check(self) -> None:
        """The core book and the emulator's balances agree (cash to the cent)."""
        view = self.emu.ledger("spot-key")
        held = self.book.positions.get("BTCUSDT")
        assert abs(view.spot.get("BTC", Decimal(0)) - (held.size if held else 0)) < COIN
        assert view.spot["USDT"].quantize(CENT) == self.book.cash.quantize(CENT)
        assert self.book.cash >= 0
        assert view.spot["USDT"] >= 0

    def equity(self, price: str) -> Decimal:
        view = self.emu.ledger("spot-key")
        return view.spot["USDT"] + view.spot.get("BTC", Decimal(0)) * Decimal(price)


def test_spot_buy_and_hold_partial_sells_and_full_exit_match_the_core_to_the_cent(
    make_emulator: Callable[..., BitgetEmulator], bitget_for: Callable[..., Any]
) -> None:
    emu = make_emulator()
    emu.add_account("spot-key", "spot-secret", "spot-pass", spot_balance=CAPITAL)
    gateway = _gateway(emu)
    desk = Desk(emu, gateway)

    # buy and hold with all the cash: the fee comes out of the BTC received
    (bought,) = desk.rebalance(0, {"BTCUSDT": 1.0}, "60000")
    assert (bought.side, bought.amount, bought.price) == (Side.BUY, Decimal("0.166666"), 60_000)
    assert (bought.fee, bought.fee_currency) == (Decimal("0.00016667"), "BTC")  # 1e-8 rounded
    assert bought.fee_quote == bought.fee * bought.price
    residual = CAPITAL - bought.amount * 60_000  # the amount step leaves 0.04 USDT unspent
    assert residual == Decimal("0.04")
    formula = CAPITAL * Decimal("0.999") * 66_000 / 60_000
    equity = desk.equity("66000")
    expected = formula + residual * (1 - Decimal("0.999") * 66_000 / 60_000)
    assert abs(equity - expected) < CENT
    assert abs(equity - formula) < CENT

    # ccxt's bitget parses the fee coin from feeDetail: BTC on the buy
    raw = bitget_for(
        emu,
        key="spot-key",
        secret="spot-secret",
        passphrase="spot-pass",
        register=False,
        default_type="spot",
    )
    [trade] = raw.fetch_my_trades("BTC/USDT")
    assert trade["fee"]["currency"] == "BTC"
    assert Decimal(str(trade["fee"]["cost"])) == bought.fee

    # partial sells, their fee in USDT
    (first,) = desk.rebalance(1, {"BTCUSDT": 0.6}, "66000")
    (second,) = desk.rebalance(2, {"BTCUSDT": 0.25}, "63000")
    for sold in (first, second):
        assert (sold.side, sold.fee_currency, sold.fee_quote) == (Side.SELL, "USDT", None)
        assert abs(sold.fee - sold.amount * sold.price * Decimal("0.001")) < COIN

    # a full exit sells the holding rounded down to the step; the dust stays
    held = desk.book.positions["BTCUSDT"].size
    (exit_,) = desk.rebalance(3, {}, "64000")
    assert exit_.amount == desk.markets["BTCUSDT"].round_amount(held) < held
    dust = desk.book.positions["BTCUSDT"].size
    assert 0 < dust < desk.markets["BTCUSDT"].amount_step
    view = emu.ledger("spot-key")
    assert abs(view.spot["BTC"] - dust) < COIN
    assert view.fees(coin="BTC") > 0
    assert view.fees(coin="USDT") > 0
    gateway.close()
