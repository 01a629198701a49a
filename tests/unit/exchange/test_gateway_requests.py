"""The requests ccxt builds for the gateway on Bitget, Binance and Bybit.

Expected shapes follow ccxt's recorded request tests (``ts/src/test/static/request/
{bitget,binance,bybit}.json`` in ccxt/ccxt), e.g. Bybit's "Opening position with sl + tp
attached" → ``"stopLoss":"0.04","takeProfit":"1"`` and "reduceOnly" → ``true``; Bitget's
preset keys and ``"reduceOnly":"YES"`` (ecosystem notes §6).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ccxt_capture import capture_gateway

from aifap.core.errors import GatewayError
from aifap.core.orders import OrderRequest, Side, client_order_id

VENUES = ["bitget", "binance", "bybit"]
CLIENT_FIELD = {"bitget": "clientOid", "binance": "newClientOrderId", "bybit": "orderLinkId"}
ORDER_PATH = {
    "bitget": "/api/v2/mix/order/place-order",
    "binance": "/fapi/v1/order",
    "bybit": "/v5/order/create",
}


def _request(**changes: object) -> OrderRequest:
    fields: dict[str, object] = {
        "client_id": client_order_id("sess", 7, "BTCUSDT", "open"),
        "symbol": "BTCUSDT", "side": Side.BUY, "amount": Decimal("0.012345"),
    }
    fields.update(changes)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def _send(venue: str, request: OrderRequest, *, preset: bool = True, futures: bool = True):
    cap = capture_gateway(venue, futures=futures)
    gateway = cap.gateway
    spec = gateway.spec("BTCUSDT")
    checked = request  # validation itself is tested in test_gateway_validation.py
    params = gateway.desk.order_params(
        checked, preset=preset and gateway.quirks.preset_stops, reference_price=Decimal(60000)
    )
    rounded = OrderRequest(**{**_fields(checked), "amount": spec.round_amount(checked.amount)})
    with pytest.raises(GatewayError, match="captured"):
        gateway.desk.place_once(rounded, spec, params)
    gateway.close()
    assert len(cap.requests) == 1, [r.url for r in cap.requests]
    return cap.requests[0]


def _fields(request: OrderRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in request.__slots__}


@pytest.mark.parametrize("venue", VENUES)
def test_market_spec_comes_from_ccxt_precision_and_limits(venue: str) -> None:
    cap = capture_gateway(venue)
    spec = cap.gateway.markets()["BTCUSDT"]
    assert (spec.amount_step, spec.price_step) == (Decimal("0.001"), Decimal("0.1"))
    assert (spec.min_amount, spec.min_notional) == (Decimal("0.001"), Decimal(5))
    assert spec.max_leverage == 125
    assert spec.contract_size == 1
    assert cap.requests == []
    cap.gateway.close()


@pytest.mark.parametrize("venue", VENUES)
def test_order_maps_symbol_rounds_amount_and_carries_client_id(venue: str) -> None:
    sent = _send(venue, _request())
    assert sent.path == ORDER_PATH[venue]
    params = sent.params
    assert params["symbol"] == "BTCUSDT"
    assert params.get("size", params.get("quantity", params.get("qty"))) == "0.012"
    assert params[CLIENT_FIELD[venue]] == _request().client_id


@pytest.mark.parametrize(
    ("venue", "expected"),
    [("bitget", "YES"), ("binance", "true"), ("bybit", True)],
)
def test_reduce_only_reaches_the_venue_in_its_dialect(venue: str, expected: object) -> None:
    sent = _send(venue, _request(side=Side.SELL, reduce_only=True, leg="close"))
    assert sent.params["reduceOnly"] == expected


def test_bitget_open_carries_preset_stop_surplus_and_stop_loss() -> None:
    sent = _send("bitget", _request(take_profit=Decimal("65000.04"), stop_loss=Decimal("58000")))
    assert sent.params["presetStopSurplusPrice"] == "65000"
    assert sent.params["presetStopLossPrice"] == "58000"
    assert sent.params["marginMode"] == "crossed"
    assert "reduceOnly" not in sent.params


def test_bybit_open_carries_stop_loss_and_take_profit() -> None:
    sent = _send("bybit", _request(take_profit=Decimal(65000), stop_loss=Decimal(58000)))
    assert (sent.params["takeProfit"], sent.params["stopLoss"]) == ("65000", "58000")
    assert sent.params["category"] == "linear"


def test_binance_open_has_no_preset_stops() -> None:
    sent = _send("binance", _request(take_profit=Decimal(65000), stop_loss=Decimal(58000)))
    assert not any(key.lower().startswith(("stop", "takeprofit")) for key in sent.params)


@pytest.mark.parametrize(
    ("venue", "path", "expected"),
    [
        ("bitget", "/api/v2/mix/order/place-tpsl-order",
         {"planType": "pos_loss", "triggerPrice": "58000", "holdSide": "buy"}),
        ("binance", "/fapi/v1/algoOrder",
         {"type": "STOP_MARKET", "triggerPrice": "58000", "closePosition": "true"}),
        ("bybit", "/v5/order/create",
         {"triggerPrice": "58000", "triggerDirection": 2, "reduceOnly": True}),
    ],
)
def test_separate_stop_loss_is_a_reduce_only_trigger_order(
    venue: str, path: str, expected: dict[str, object]
) -> None:
    cap = capture_gateway(venue)
    spec = cap.gateway.spec("BTCUSDT")
    with pytest.raises(GatewayError, match="captured"):
        cap.gateway.desk.place_trigger("BTCUSDT", Decimal("0.5"), "stop_loss",
                                       Decimal("58000.02"), spec)
    sent = cap.requests[0]
    assert sent.path == path
    assert sent.params.get("side", sent.params.get("holdSide")).lower() in ("sell", "buy")
    for key, value in expected.items():
        assert sent.params[key] == value
    if venue == "binance":
        assert "reduceOnly" not in sent.params  # Binance refuses it with closePosition
    cap.gateway.close()


@pytest.mark.parametrize(
    ("venue", "path", "field"),
    [
        ("bitget", "/api/v2/mix/order/detail", "clientOid"),
        ("binance", "/fapi/v1/order", "origClientOrderId"),
        ("bybit", None, "orderLinkId"),
    ],
)
def test_order_lookup_by_client_id(venue: str, path: str | None, field: str) -> None:
    cap = capture_gateway(venue)
    with pytest.raises(GatewayError, match="captured"):
        cap.gateway.desk.find("af7-abc", "BTCUSDT")
    sent = cap.requests[0]
    assert sent.method == "GET"
    if path is not None:
        assert sent.path == path
    assert sent.params[field] == "af7-abc"
    cap.gateway.close()


def test_bitget_spot_market_buy_is_sized_in_quote_from_the_reference_price() -> None:
    sent = _send("bitget", _request(amount=Decimal("0.01")), futures=False)
    assert sent.path == "/api/v2/spot/trade/place-order"
    assert sent.params["size"] == "600"
    assert sent.params["clientOid"]


def test_bitget_demo_mode_adds_the_paptrading_header() -> None:
    cap = capture_gateway("bitget", demo=True)
    with pytest.raises(GatewayError, match="captured"):
        cap.gateway.desk.find("af7-abc", "BTCUSDT")
    assert cap.requests[0].headers.get("PAPTRADING") == "1"
    cap.gateway.close()


@pytest.mark.parametrize("venue", ["binance", "bybit"])
def test_binance_and_bybit_demo_mode_use_the_demo_hosts(venue: str) -> None:
    cap = capture_gateway(venue, demo=True)
    with pytest.raises(GatewayError, match="captured"):
        cap.gateway.desk.find("af7-abc", "BTCUSDT")
    assert "demo" in cap.requests[0].url
    cap.gateway.close()
