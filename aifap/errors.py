"""Public home of AIFAP's error tree (defined in ``aifap.core.errors``)."""

from aifap.core.errors import (
    AifapError,
    ConfigError,
    DataError,
    ExchangeAuthError,
    GatewayError,
    InsufficientFundsError,
    InvalidTargetError,
    OrderRejectedError,
    RetryExhaustedError,
    StrategyError,
    StrategyTimeoutError,
    TransientGatewayError,
    UnknownPluginError,
)

__all__ = [
    "AifapError",
    "ConfigError",
    "DataError",
    "ExchangeAuthError",
    "GatewayError",
    "InsufficientFundsError",
    "InvalidTargetError",
    "OrderRejectedError",
    "RetryExhaustedError",
    "StrategyError",
    "StrategyTimeoutError",
    "TransientGatewayError",
    "UnknownPluginError",
]
