"""Market specs several test modules trade."""

from __future__ import annotations

from decimal import Decimal

from aifap.core.markets import MarketSpec, MarketType

BTCUSDT_FUTURES = MarketSpec(
    "BTCUSDT",
    MarketType.FUTURES,
    "BTC",
    "USDT",
    amount_step=Decimal("0.001"),
    price_step=Decimal("0.1"),
    min_amount=Decimal("0.001"),
    min_notional=Decimal(5),
    max_leverage=100,
)
