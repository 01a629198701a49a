"""Bad input is refused before any request; API keys never leak; the error map."""

from __future__ import annotations

import logging
from decimal import Decimal

import ccxt
import pytest
from ccxt_capture import KEY, PASSWORD, SECRET, capture_gateway

from aifap.core.errors import (
    ConfigError,
    ExchangeAuthError,
    GatewayError,
    InsufficientFundsError,
    OrderRejectedError,
    TransientGatewayError,
)
from aifap.core.orders import OrderRequest, Side
from aifap.exchange.ccxt.errors import map_ccxt_error
from aifap.exchange.ccxt.gateway_config import CcxtConfig
from aifap.redaction import Redactor


def _order(symbol: str = "BTCUSDT", amount: str = "0.01") -> OrderRequest:
    return OrderRequest("af1-test", symbol, Side.BUY, Decimal(amount))


def test_unknown_symbol_is_refused_before_any_request() -> None:
    cap = capture_gateway("bitget")
    with pytest.raises(OrderRejectedError, match="DOGEUSDT: symbol must be a bitget futures"):
        cap.gateway.place_orders([_order("DOGEUSDT")])
    assert cap.requests == []


def test_amount_below_minimum_is_refused_before_any_request() -> None:
    cap = capture_gateway("bitget")
    cap.gateway._prices["BTCUSDT"] = (1e18, Decimal(60_000))  # a cached reference price
    with pytest.raises(OrderRejectedError, match="amount rounds to 0"):
        cap.gateway.place_orders([_order(amount="0.0004")])
    assert cap.requests == []


def test_leverage_above_the_market_maximum_is_refused_before_any_request() -> None:
    cap = capture_gateway("bitget", leverage=200)
    cap.gateway._prices["BTCUSDT"] = (1e18, Decimal(60_000))
    with pytest.raises(ConfigError, match="leverage must be <= 125"):
        cap.gateway.place_orders([_order()])
    assert cap.requests == []


def test_missing_api_keys_are_refused_before_any_request() -> None:
    cap = capture_gateway("bitget", password=None)
    with pytest.raises(ExchangeAuthError, match="password must be set"):
        cap.gateway.place_orders([_order()])
    assert cap.requests == []


def test_secrets_never_appear_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    cap = capture_gateway("bitget")
    texts = [repr(cap.gateway), repr(cap.gateway.config), str(cap.gateway.config)]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GatewayError) as raised:
        cap.gateway.desk.find("af1-x", "BTCUSDT")
    # ccxt's fetch logs request headers at DEBUG through the client's logger
    cap.gateway.pool.main.logger.debug("GET, Request: %s", {"ACCESS-KEY": KEY,
                                                             "ACCESS-PASSPHRASE": PASSWORD})
    texts += [str(raised.value), caplog.text]
    assert "ACCESS-KEY" in caplog.text  # the header was logged, its value was not
    for secret in (KEY, SECRET, PASSWORD):
        assert not any(secret in text for text in texts)


def test_redactor_hides_every_configured_secret() -> None:
    config = CcxtConfig(api_key=KEY, secret=SECRET, password=PASSWORD)
    redact = Redactor(config.secrets(), min_length=1)
    assert redact(f"bad key {KEY} / {SECRET} / {PASSWORD}") == "bad key *** / *** / ***"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.RequestTimeout("t"), TransientGatewayError),
        (ccxt.RateLimitExceeded("r"), TransientGatewayError),
        (ccxt.ExchangeNotAvailable("x"), TransientGatewayError),
        (ccxt.AuthenticationError("40009"), ExchangeAuthError),
        (ccxt.InsufficientFunds("43012"), InsufficientFundsError),
        (ccxt.InvalidOrder("45110"), OrderRejectedError),
        (ccxt.BadSymbol("s"), OrderRejectedError),
        (ccxt.ExchangeError("e"), GatewayError),
    ],
)
def test_ccxt_errors_map_onto_aifap_errors(raised: Exception, expected: type) -> None:
    mapped = map_ccxt_error(raised)
    assert type(mapped) is expected
