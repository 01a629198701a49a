"""The ccxt gateway driving the real ``ccxt.bitget`` at the local Bitget emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from aifap.core.errors import RetryExhaustedError
from aifap.core.orders import OrderRequest, OrderStatus, Side, client_order_id
from aifap.exchange.ccxt.gateway import CcxtGateway
from aifap.exchange.emulator import BitgetEmulator
from aifap.exchange.retry import RetryPolicy

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
    from aifap.core.markets import MarketType

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
