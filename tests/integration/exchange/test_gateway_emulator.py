"""The ccxt gateway driving the real ``ccxt.bitget`` at the local Bitget emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from helpers.processes import wait_until

from aifap.core.errors import OrderRejectedError, RetryExhaustedError
from aifap.core.markets import MarketType
from aifap.core.orders import OrderRequest, OrderStatus, Side, client_order_id
from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.emulator import DEFAULT_MARKETS, BitgetEmulator, EmulatorMarket, ManualClock
from aifap.retry import RetryPolicy

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
FAST_RETRY = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.002, jitter=0.001)


def _gateway(emu: BitgetEmulator, key: str = "gw-key", **fields: Any) -> CcxtGateway:
    fields.setdefault("retry", FAST_RETRY)
    fields.setdefault("timeout_ms", 2_000)
    return CcxtGateway(
        venue="bitget",
        api_key=key,
        secret="gw-secret",
        password="gw-pass",
        api_url=emu.url,
        rate_limit=False,
        leverage=5,
        **fields,
    )


def _leg(
    cycle: int, symbol: str, side: Side, amount: str, leg: str = "open", **changes: Any
) -> OrderRequest:
    return OrderRequest(
        client_order_id("emu", cycle, symbol, leg),
        symbol,
        side,
        Decimal(amount),
        leg=leg,
        reduce_only=leg in ("close", "reduce"),
        **changes,
    )


def _sizes(gateway: CcxtGateway) -> dict[str, Decimal]:
    return {p.symbol: p.size for p in gateway.positions()}


def test_futures_open_add_reduce_flip_close_with_stops(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator()
    gateway = _gateway(emu)
    tp, sl = Decimal(90_000), Decimal(40_000)
    gateway.place_orders([_leg(1, "BTCUSDT", Side.BUY, "0.05", take_profit=tp, stop_loss=sl)])
    assert _sizes(gateway) == {"BTCUSDT": Decimal("0.05")}
    gateway.place_orders(
        [_leg(2, "BTCUSDT", Side.BUY, "0.03", take_profit=tp + 1000, stop_loss=sl + 1000)]
    )
    # after adding, the SL/TP cover the whole position (one pair, the new prices)
    assert gateway.stops("BTCUSDT") == (tp + 1000, sl + 1000)
    plans = emu.ledger("gw-key").open_plans("BTCUSDT")
    assert sorted(p.plan_type for p in plans) == ["pos_loss", "pos_profit"]
    gateway.place_orders([_leg(3, "BTCUSDT", Side.SELL, "0.02", "reduce")])
    assert _sizes(gateway) == {"BTCUSDT": Decimal("0.06")}
    gateway.place_orders(
        [
            _leg(4, "BTCUSDT", Side.SELL, "0.06", "close"),
            _leg(
                4,
                "BTCUSDT",
                Side.SELL,
                "0.04",
                "open",
                take_profit=Decimal(40_000),
                stop_loss=Decimal(90_000),
            ),
        ]
    )
    assert _sizes(gateway) == {"BTCUSDT": Decimal("-0.04")}
    assert gateway.stops("BTCUSDT") == (Decimal(40_000), Decimal(90_000))
    gateway.place_orders([_leg(5, "BTCUSDT", Side.BUY, "0.04", "close")])
    assert _sizes(gateway) == {}
    fills = gateway.fills(SINCE)
    ledger = emu.ledger("gw-key")
    assert len(fills) == len(ledger.fills_of("BTCUSDT")) == 6
    fees = sum((f.fee for f in fills), Decimal(0))
    assert fees.quantize(Decimal("0.01")) == ledger.fees("BTCUSDT").quantize(Decimal("0.01"))
    assert gateway.balance().wallet.quantize(Decimal("0.01")) == (
        ledger.futures_wallet.quantize(Decimal("0.01"))
    )
    gateway.close()


def test_spot_buys_and_sells(make_emulator: Callable[..., BitgetEmulator]) -> None:
    emu = make_emulator()
    gateway = _gateway(emu, market_type=MarketType.SPOT)
    [bought] = gateway.place_orders([_leg(1, "BTCUSDT", Side.BUY, "0.01")])
    assert bought.status is not OrderStatus.REJECTED, bought.reason
    held = {p.symbol: p.size for p in gateway.positions()}
    assert held["BTCUSDT"] > 0
    [sold] = gateway.place_orders([_leg(2, "BTCUSDT", Side.SELL, "0.005", "reduce")])
    assert sold.status is not OrderStatus.REJECTED, sold.reason
    assert len(gateway.fills(SINCE, ["BTCUSDT"])) == 2
    gateway.close()


@pytest.mark.slow
def test_fifty_rebalances_under_thirty_percent_faults_place_no_duplicates(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator(dedupe_client_oids=False)
    gateway = _gateway(emu, timeout_ms=300)
    gateway.prepare(["BTCUSDT", "ETHUSDT"])
    kinds = {"rate_limit": 1.0, "server_error": 1.0, "timeout": 1.0, "lost": 1.5}
    emu.faults.fail_randomly(0.3, kinds, path="/api/v2/*", lost_as="timeout")
    intended = {"BTCUSDT": Decimal(0), "ETHUSDT": Decimal(0)}
    restarts = 0
    for cycle in range(50):
        side = Side.BUY if cycle % 3 else Side.SELL
        batch = [_leg(cycle, "BTCUSDT", side, "0.002"), _leg(cycle, "ETHUSDT", side, "0.02")]
        while True:  # the live runner stops on RetryExhaustedError; a restart re-sends
            try:
                orders = gateway.place_orders(batch)
                break
            except RetryExhaustedError:
                restarts += 1
        assert all(o.status is not OrderStatus.REJECTED for o in orders)
        for request in batch:
            intended[request.symbol] += request.signed_amount
    emu.faults.clear()
    ledger = emu.ledger("gw-key")
    client_ids = [o.client_oid for o in ledger.orders]
    assert len(client_ids) == len(set(client_ids)) == 100
    lost = [r for r in emu.request_log.records() if r.fault == "lost"]
    assert lost, "the storm must include executed-but-lost responses"
    assert _sizes(gateway) == {s: v for s, v in intended.items() if v}
    gateway.close()


FIVE_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT"]
PLACE_ORDER = "/api/v2/mix/order/place-order"


def _five_markets() -> list[EmulatorMarket]:
    ada = EmulatorMarket("ADAUSDT", "ADA", MarketType.FUTURES, 4, 0, Decimal(1),
                         max_leverage=75, fallback_price=Decimal("0.5"))
    return [*DEFAULT_MARKETS, ada]


def test_a_batch_of_five_orders_is_in_flight_at_once(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator(markets=_five_markets())
    gateway = _gateway(emu, confirm_orders=False, timeout_ms=60_000)
    gateway.prepare(FIVE_SYMBOLS)
    # the emulator answers no order of the batch before all five arrived: sequential
    # sending would leave the first one held until the gate's timeout
    gate = emu.faults.gate(PLACE_ORDER, group=5, hold_seconds=30)
    emu.reset_log()
    amounts = {"BTCUSDT": "0.002", "ETHUSDT": "0.02", "SOLUSDT": "0.5", "XRPUSDT": "20",
               "ADAUSDT": "20"}
    legs = [_leg(1, symbol, Side.BUY, amount) for symbol, amount in amounts.items()]
    orders = gateway.place_orders(legs)
    gateway.close()
    assert [o.status is not OrderStatus.REJECTED for o in orders] == [True] * 5
    assert gate.opened.is_set()
    placed = emu.request_log.records(PLACE_ORDER)
    # the log, in arrival order: the batch's five client ids, each sent once, none timed out
    assert sorted(r.params["clientOid"] for r in placed) == sorted(leg.client_id for leg in legs)
    assert [r.fault for r in placed] == [None] * 5
    # every order of the batch arrived before the first answer went out
    assert max(r.start for r in placed) < min(r.end or 0.0 for r in placed)


def test_set_stops_replaces_the_position_stops_with_one_tp_and_one_sl(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator()
    gateway = _gateway(emu)
    gateway.place_orders([_leg(1, "BTCUSDT", Side.BUY, "0.05")])  # no SL/TP on the order
    gateway.set_stops("BTCUSDT", take_profit=Decimal(80_000), stop_loss=Decimal(50_000))
    gateway.place_orders([_leg(2, "BTCUSDT", Side.BUY, "0.03")])  # add to the position
    emu.reset_log()
    gateway.set_stops("BTCUSDT", take_profit=Decimal(75_000), stop_loss=Decimal(55_000))

    # separate trigger orders (not presets): the old pair cancelled by the gateway itself
    sent = [r.path.rsplit("/", 1)[-1] for r in emu.request_log.records("/api/v2/mix/order/*")
            if r.method == "POST"]
    assert sent.count("cancel-plan-order") == 2
    assert sent.count("place-tpsl-order") == 2
    assert "place-order" not in sent
    ledger = emu.ledger("gw-key")
    armed = ledger.open_plans("BTCUSDT")
    assert sorted((p.plan_type, p.trigger_price) for p in armed) == [
        ("pos_loss", Decimal(55_000)), ("pos_profit", Decimal(75_000))]
    assert all(p.size is None for p in armed)  # pos_* plans close the whole position
    assert sorted(p.trigger_price for p in ledger.plans if not p.is_open) == [
        Decimal(50_000), Decimal(80_000)]
    assert gateway.stops("BTCUSDT") == (Decimal(75_000), Decimal(55_000))

    # the stop loss covers the whole position, added part included
    emu.set_price("BTCUSDT", Decimal(54_000))
    emu.advance()
    assert _sizes(gateway) == {}
    closing = [f for f in emu.ledger("gw-key").fills_of("BTCUSDT") if f.trade_side == "close"]
    assert [f.size for f in closing] == [Decimal("0.08")]
    gateway.close()


def test_funding_is_attributed_per_symbol_and_reconciles_with_the_emulator(
    make_emulator: Callable[..., BitgetEmulator], emulator_clock: ManualClock,
) -> None:
    emu = make_emulator(funding_rates={"BTCUSDT": Decimal("0.0001"),
                                       "ETHUSDT": Decimal("0.0002")})
    gateway = _gateway(emu)
    emulator_clock.advance(60)
    opened = emulator_clock.now
    gateway.place_orders([_leg(1, "BTCUSDT", Side.BUY, "0.05"),
                          _leg(1, "ETHUSDT", Side.SELL, "0.5")])
    emulator_clock.advance(timedelta(hours=16, minutes=30))  # settles 08:00 and 16:00
    emu.advance()

    payments = gateway.funding(opened)
    ledger = emu.ledger("gw-key")
    by_symbol: dict[str, list[Any]] = {}
    for payment in payments:
        by_symbol.setdefault(payment.symbol, []).append(payment)
    assert {s: len(p) for s, p in by_symbol.items()} == {"BTCUSDT": 2, "ETHUSDT": 2}
    for symbol, rows in by_symbol.items():
        paid = sum((p.amount for p in rows), Decimal(0))
        assert paid == -ledger.funding_for(symbol)  # ours: paid > 0; Bitget's: received > 0
    assert by_symbol["BTCUSDT"][0].amount > 0  # a long pays a positive rate
    assert by_symbol["ETHUSDT"][0].amount < 0  # a short receives it
    assert [p.timestamp.hour for p in payments] == [8, 8, 16, 16]
    # since a later time: only the later settlement; one symbol: only its own
    later = gateway.funding(opened + timedelta(hours=9), ["ETHUSDT"])
    assert [(p.symbol, p.timestamp.hour) for p in later] == [("ETHUSDT", 16)]
    assert gateway.balance().wallet.quantize(Decimal("0.01")) == (
        ledger.futures_wallet.quantize(Decimal("0.01"))
    )
    gateway.close()


def test_exchange_down_after_executing_leaves_one_order_found_on_the_next_call(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator(dedupe_client_oids=False)
    gateway = _gateway(emu)
    gateway.prepare(["BTCUSDT"])
    emu.faults.fail_next("lost", 1, path=PLACE_ORDER, lost_as=502)  # executed, answer lost
    emu.faults.fail_next("server_error", 10, path="/api/v2/mix/order/detail")  # then down
    request = _leg(1, "BTCUSDT", Side.BUY, "0.01")
    with pytest.raises(RetryExhaustedError):
        gateway.place_orders([request])
    assert [o.client_oid for o in emu.ledger("gw-key").orders] == [request.client_id]
    emu.faults.clear()
    [again] = gateway.place_orders([request])  # the runner's restart re-sends the batch
    assert again.client_id == request.client_id
    assert again.status is OrderStatus.FILLED
    assert len(emu.ledger("gw-key").orders) == 1  # found, not placed twice
    assert len(emu.request_log.records(PLACE_ORDER)) == 1
    gateway.close()


def test_ohlcv_reads_complete_bars_through_the_public_data_client(
    make_emulator: Callable[..., BitgetEmulator], emulator_clock: ManualClock,
) -> None:
    emu = make_emulator()
    emulator_clock.advance(timedelta(hours=3))
    gateway = _gateway(emu)
    since = emulator_clock.now - timedelta(hours=2)
    bars = gateway.ohlcv("BTCUSDT", "1m", since=since, limit=30)
    assert len(bars) == 30
    assert bars.index[0] == since
    assert bars.index.is_monotonic_increasing
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    paths = {r.path for r in emu.request_log.records("/api/v2/mix/market/*")}
    assert paths & {"/api/v2/mix/market/candles", "/api/v2/mix/market/history-candles"}
    gateway.close()


def test_place_batches_sends_the_next_batch_while_the_caller_records_one(
    make_emulator: Callable[..., BitgetEmulator],
) -> None:
    emu = make_emulator(markets=_five_markets())
    gateway = _gateway(emu, confirm_orders=False)
    gateway.prepare(FIVE_SYMBOLS)
    emu.reset_log()
    batches = [
        [_leg(1, "BTCUSDT", Side.BUY, "0.002"), _leg(1, "ETHUSDT", Side.BUY, "0.02")],
        [_leg(1, "SOLUSDT", Side.BUY, "0.5")],
        [_leg(1, "XRPUSDT", Side.BUY, "20")],
    ]
    sent = lambda: {r.params["clientOid"] for r in emu.request_log.records(PLACE_ORDER)}  # noqa: E731
    seen: list[tuple[int, list[str]]] = []
    overlapped: list[bool] = []

    def acknowledged(number: int, orders: list[Any]) -> None:
        seen.append((number, [o.client_id for o in orders]))
        if number == 0:  # batch 1 goes out while batch 0 is being recorded
            overlapped.append(wait_until(lambda: batches[1][0].client_id in sent()))

    gateway.place_batches(batches, acknowledged)
    assert overlapped == [True]
    assert seen == [(i, [o.client_id for o in b]) for i, b in enumerate(batches)]
    assert _sizes(gateway) == {"BTCUSDT": Decimal("0.002"), "ETHUSDT": Decimal("0.02"),
                               "SOLUSDT": Decimal("0.5"), "XRPUSDT": Decimal("20")}  # fmt: skip

    # a batch refused whole (below the minimum) raises; the one after it is never sent
    emu.reset_log()
    refused = [
        [_leg(2, "BTCUSDT", Side.BUY, "0.002")],
        [_leg(2, "ETHUSDT", Side.BUY, "0.0000001")],
        [_leg(2, "SOLUSDT", Side.BUY, "0.5")],
    ]
    answered: list[int] = []
    with pytest.raises(OrderRejectedError):
        gateway.place_batches(refused, lambda number, _: answered.append(number))
    assert answered == [0]
    assert sent() == {refused[0][0].client_id}

    # the caller failing on batch 0: batch 1, already sent, is answered before it raises
    emu.reset_log()
    broken = [[_leg(3, "BTCUSDT", Side.SELL, "0.002", "close")],
              [_leg(3, "ETHUSDT", Side.SELL, "0.02", "close")],
              [_leg(3, "SOLUSDT", Side.SELL, "0.5", "close")]]  # fmt: skip

    def fails(number: int, _: list[Any]) -> None:
        assert wait_until(lambda: broken[1][0].client_id in sent())
        raise RuntimeError("journal down")

    with pytest.raises(RuntimeError, match="journal down"):
        gateway.place_batches(broken, fails)
    records = emu.request_log.records(PLACE_ORDER)
    assert [r.params["clientOid"] for r in records] == [b[0].client_id for b in broken[:2]]
    assert all(r.end is not None for r in records)
    gateway.close()
