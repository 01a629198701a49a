from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aifap.core.orders import (
    CLIENT_ID_PATTERN,
    Fill,
    OrderRequest,
    Side,
    check_client_id,
    client_order_id,
    client_order_ids,
)


def test_client_ids_are_deterministic_and_distinct_per_leg():
    first = client_order_id("session-a", 7, "BTCUSDT", "open")
    assert first == client_order_id("session-a", 7, "BTCUSDT", "open")
    others = {
        client_order_id("session-b", 7, "BTCUSDT", "open"),
        client_order_id("session-a", 8, "BTCUSDT", "open"),
        client_order_id("session-a", 7, "ETHUSDT", "open"),
        client_order_id("session-a", 7, "BTCUSDT", "close"),
    }
    assert first not in others
    assert len(others) == 4


def test_client_ids_fit_the_exchanges_rule_even_for_long_inputs():
    cid = client_order_id("x" * 200, 10**12, "VERYLONGSYMBOLUSDT", "flip-open")
    assert CLIENT_ID_PATTERN.match(cid)
    assert len(cid) <= 36


def test_many_client_ids_at_once_are_the_same_ids():
    rows = [
        (0, "BTCUSDT", "open"),
        (0, "ETHUSDT", "close"),
        (0, "BTCUSDT", "open"),
        (7, "BTCUSDT", "open"),
        (7, "ÉTHUSDT", "flip-open"),
        (10**13, "VERYLONGSYMBOLUSDT", "stops"),
        (3, "BTCUSDT", "reduce"),
    ]
    for session in ("backtest", "séance-1", "x" * 200):
        cycles, symbols, legs = zip(*rows, strict=True)
        expected = [client_order_id(session, *row) for row in rows]
        assert list(client_order_ids(session, cycles, symbols, legs)) == expected
    with pytest.raises(ValueError, match="cycle must be >= 0, was -1"):
        list(client_order_ids("s", [-1], ["BTCUSDT"], ["open"]))


@pytest.mark.parametrize("bad", ["", "a" * 37, "has space", "semi;colon"])
def test_bad_client_ids_are_refused(bad):
    with pytest.raises(ValueError, match="client order id"):
        check_client_id(bad)


def test_order_request_refuses_non_positive_amounts():
    with pytest.raises(ValueError, match="amount must be > 0"):
        OrderRequest("af1-x", "BTCUSDT", Side.BUY, Decimal(0))


def test_signed_amounts_follow_the_side():
    request = OrderRequest("af1-x", "BTCUSDT", Side.SELL, Decimal("0.5"), reduce_only=True)
    assert request.signed_amount == Decimal("-0.5")
    fill = Fill(
        "BTCUSDT",
        Side.BUY,
        Decimal("2"),
        Decimal("10.5"),
        Decimal("0.01"),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert fill.signed_amount == Decimal(2)
    assert fill.notional == Decimal("21.0")
