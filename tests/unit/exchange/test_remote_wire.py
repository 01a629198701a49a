"""Values and errors on the wire between ``RemoteGateway`` and the gateway service."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aifap.auth.tokens import ScopeError, TokenError
from aifap.core.errors import (
    ExchangeAuthError,
    GatewayError,
    InsufficientFundsError,
    InvalidTargetError,
    OrderRejectedError,
    RetryExhaustedError,
    TransientGatewayError,
)
from aifap.core.orders import Fill, FillReason, Order, OrderStatus, Side
from aifap.exchange.remote import wire


def test_orders_and_fills_keep_every_decimal_digit():
    tiny = Decimal("0.00012345678901234567")
    when = datetime(2024, 1, 1, tzinfo=UTC)
    order = Order("c-1", "BTCUSDT", Side.BUY, tiny, OrderStatus.FILLED, "x-1", tiny,
                  Decimal("64123.123456789"), created_at=when)  # fmt: skip
    data = wire.dump(order, Order)
    assert data["amount"] == "0.00012345678901234567"
    assert wire.load(Order, data) == order
    fill = Fill("BTCUSDT", Side.SELL, Decimal("0.1"), Decimal("1.1"), Decimal("0.000066"),
                datetime(2024, 1, 1, tzinfo=UTC), reason=FillReason.STOP_LOSS)  # fmt: skip
    assert wire.load(Fill, wire.dump(fill, Fill)) == fill


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OrderRejectedError("BTCUSDT: amount must be >= 0.001, was 0.0001"), 422),
        (InsufficientFundsError("BTCUSDT: margin must cover the order, was 3 USDT short"), 422),
        (RetryExhaustedError("place_orders failed after 3 attempts: 503"), 503),
        (TransientGatewayError("timeout"), 503),
        (ExchangeAuthError("api_key must be set, was missing"), 502),
        (InvalidTargetError("ETHUSDT", "gross weight must be <= 1.5", value="1.8"), 422),
        (TokenError("token must be given, was missing"), 401),
        (ScopeError("token scopes must include gateway:a, were gateway:b"), 403),
    ],
)
def test_errors_come_back_as_the_same_class_message_and_fields(error, status):
    assert wire.status_of(error) == status
    again = wire.error_from(wire.error_body(error), status)
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)


def test_bodies_that_are_not_ours_map_by_status():
    assert type(wire.error_from("<html>bad gateway</html>", 502)) is TransientGatewayError
    assert type(wire.error_from({"detail": "Not Found"}, 404)) is GatewayError
    unknown = wire.error_from({"error": {"type": "Weird", "message": "m"}}, 500)
    assert type(unknown) is GatewayError
    assert str(unknown) == "Weird: m"
