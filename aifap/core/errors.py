"""The error tree every part of AIFAP raises from.

Messages name the field and the rule and say what the value "was"::

    AifapError
    ├── ConfigError
    │   ├── UnknownPluginError
    │   └── UnknownSymbolError          # a session symbol the venue does not list
    ├── DataError                       # bad bar files, gaps, unreadable sources
    ├── StrategyError
    │   ├── InvalidTargetError(symbol, rule, value)
    │   └── StrategyTimeoutError
    └── GatewayError
        ├── TransientGatewayError       # network, timeout, rate limit, unavailable: retried
        │   └── RetryExhaustedError     # the retry budget ran out: alert and stop
        ├── ExchangeAuthError           # missing or wrong API keys: never retried
        │   └── ExchangePermissionError # a valid key lacks a permission (futures, trade, IP)
        └── OrderRejectedError          # never retried
            └── InsufficientFundsError
"""

from __future__ import annotations

from typing import Any


class AifapError(Exception):
    """Base of every error AIFAP raises on purpose."""


class ConfigError(AifapError, ValueError):
    """A setting or configuration value breaks a rule."""


class UnknownPluginError(ConfigError, KeyError):
    """A registry was asked for a name it does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownSymbolError(ConfigError):
    """A session symbol is not listed by the venue (for the session's market type)."""


class DataError(AifapError, ValueError):
    """Market data is missing, malformed or inconsistent."""


class StrategyError(AifapError):
    """A strategy raised, hung, or returned something unusable."""


class InvalidTargetError(StrategyError, ValueError):
    """One target in a strategy's output breaks a rule.

    ``InvalidTargetError("ETHUSDT", "gross weight must be <= 1.5", value=1.8)`` reads
    ``ETHUSDT: gross weight must be <= 1.5, was 1.8``.
    """

    def __init__(self, symbol: str, rule: str, value: Any = None) -> None:
        self.symbol = symbol
        self.rule = rule
        self.value = value
        suffix = "" if value is None else f", was {value}"
        super().__init__(f"{symbol}: {rule}{suffix}")


class StrategyTimeoutError(StrategyError, TimeoutError):
    """A strategy call ran past its time limit."""


class GatewayError(AifapError):
    """An exchange gateway call failed."""


class TransientGatewayError(GatewayError):
    """Network error, timeout, rate limit or exchange unavailable: safe to retry."""


class RetryExhaustedError(TransientGatewayError):
    """Transient failures outlasted the retry budget; the session must alert and stop."""


class ExchangeAuthError(GatewayError):
    """API keys are missing or were refused by the exchange."""


class ExchangePermissionError(ExchangeAuthError):
    """The exchange accepted the API key but refused it a permission the call needs."""


class OrderRejectedError(GatewayError):
    """The exchange (or our pre-flight checks) refused an order; never retried."""


class InsufficientFundsError(OrderRejectedError):
    """The account lacks the balance or margin for an order."""
