"""Map ccxt's exceptions onto AIFAP's error tree (the only place that does).

ccxt's NetworkError covers timeouts, rate limits, DDoS protection and exchange
unavailability: all transient. Authentication, permissions, insufficient funds and
invalid orders are final. Messages are passed through ``redact`` so keys never leak.
"""

from __future__ import annotations

from collections.abc import Callable

import ccxt

from aifap.core.errors import (
    ExchangeAuthError,
    ExchangePermissionError,
    GatewayError,
    InsufficientFundsError,
    OrderRejectedError,
    TransientGatewayError,
)


def map_ccxt_error(
    exc: BaseException, redact: Callable[[str], str] = lambda text: text
) -> GatewayError:
    """Return the AIFAP error for a ccxt exception (raise it ``from exc``)."""
    message = redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ccxt.NetworkError):
        return TransientGatewayError(message)
    if isinstance(exc, ccxt.PermissionDenied | ccxt.AccountNotEnabled | ccxt.AccountSuspended):
        return ExchangePermissionError(message)
    if isinstance(exc, ccxt.AuthenticationError):
        return ExchangeAuthError(message)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFundsError(message)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.BadSymbol):
        return OrderRejectedError(message)
    return GatewayError(message)
