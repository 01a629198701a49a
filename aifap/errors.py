"""Public home of AIFAP's error tree (defined in ``aifap.core.errors``)."""

from aifap.core.errors import (
    AifapError,
    ConfigError,
    DataError,
    ExchangeAuthError,
    ExchangePermissionError,
    GatewayError,
    InsufficientFundsError,
    InvalidTargetError,
    OrderRejectedError,
    RetryExhaustedError,
    StrategyError,
    StrategyTimeoutError,
    TransientGatewayError,
    UnknownPluginError,
    UnknownSymbolError,
)

__all__ = [
    "AifapError",
    "ConfigError",
    "DataError",
    "ExchangeAuthError",
    "ExchangePermissionError",
    "GatewayError",
    "InsufficientFundsError",
    "InvalidTargetError",
    "OrderRejectedError",
    "RetryExhaustedError",
    "StrategyError",
    "StrategyTimeoutError",
    "TransientGatewayError",
    "UnknownPluginError",
    "UnknownSymbolError",
]
