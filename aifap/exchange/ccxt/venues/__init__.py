"""Per-venue quirks as data: one ``VenueQuirks`` table per exchange, no venue if-chains.

The gateway reads these tables instead of testing the venue's name (STYLE.md §4): what
the venue supports (preset SL/TP on the order, one-way position mode, demo trading)
and the extra ccxt parameters its calls need (trigger-order listing, client-id lookup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aifap.registry import Registry


@dataclass(frozen=True, slots=True)
class VenueQuirks:
    """What one exchange does differently, read by the ccxt gateway.

    Attributes:
        name: ccxt's exchange id (``bitget``).
        preset_stops: the venue accepts SL/TP on a futures order (ccxt's ``stopLoss`` /
            ``takeProfit`` params, Bitget's ``presetStopLossPrice``).
        position_stops_replace: a new position SL/TP replaces the old one at the venue,
            so set_stops need not cancel the previous trigger orders first.
        one_way_mode: call ``set_position_mode(False)`` once before trading futures.
        demo: how demo trading is switched on: ``"sandbox"`` (ccxt's
            ``set_sandbox_mode``; Bitget adds the ``PAPTRADING: 1`` header) or ``"demo"``
            (ccxt's ``enable_demo_trading``).
        spot_market_buy_needs_price: a spot market buy is sized in quote currency, so
            ccxt needs a reference price to turn the base amount into a cost.
        client_id_field: the field the venue's order API names the client id (for docs
            and the request-shape tests; the gateway passes ccxt's ``clientOrderId``).
        trigger_orders_params: extra params that make ``fetch_open_orders`` and
            ``cancel_order`` address SL/TP trigger orders.
        stop_order_params: extra params of a separate SL/TP trigger order.
        stop_reduce_only: send separate SL/TP trigger orders as reduce-only.
        fetch_order_params: extra params of ``fetch_order`` by client id.
        client_id_lookup: ``"fetch_order"`` (ccxt's ``clientOrderId`` param works) or
            ``"open_then_closed"`` (filter open, then closed orders by ``client_id_field``).
        needs_symbol_for_trades: ``fetch_my_trades`` requires a symbol.
        ccxt_options: ccxt options set on every client of the venue, public and trading
            (which API generation to use, skipping account-type probes).
        futures_type: ccxt's ``defaultType`` for USDT-margined perpetuals.
        candle_page_limit: the most candles one ``fetch_ohlcv`` request returns.
        trigger_history_params: extra params that list executed SL/TP triggers with the
            order each executed (``fetch_canceled_and_closed_orders``); None when the
            venue cannot link a stop's fill to its trigger (its fills stay plain trades).
        trigger_history_limit: the newest triggers of a symbol one such request returns.
        order_not_found_codes: exchange codes meaning "no such order" on a lookup.
        duplicate_client_id_codes: exchange codes meaning "client id already used".
    """

    name: str
    preset_stops: bool = True
    position_stops_replace: bool = False
    one_way_mode: bool = True
    demo: str = "sandbox"
    spot_market_buy_needs_price: bool = False
    client_id_field: str = "clientOrderId"
    trigger_orders_params: Mapping[str, Any] = field(default_factory=dict)
    stop_order_params: Mapping[str, Any] = field(default_factory=dict)
    stop_reduce_only: bool = True
    fetch_order_params: Mapping[str, Any] = field(default_factory=dict)
    client_id_lookup: str = "fetch_order"
    needs_symbol_for_trades: bool = True
    ccxt_options: Mapping[str, Any] = field(default_factory=dict)
    futures_type: str = "swap"
    candle_page_limit: int = 500
    trigger_history_params: Mapping[str, Any] | None = None
    trigger_history_limit: int = 100
    order_not_found_codes: tuple[str, ...] = ()
    duplicate_client_id_codes: tuple[str, ...] = ()


venues: Registry[VenueQuirks] = Registry("aifap.gateways.venues")


def _load_builtin() -> None:
    # importing the modules registers their tables
    from aifap.exchange.ccxt.venues import binance, bitget, bybit  # noqa: F401


def quirks(venue: str) -> VenueQuirks:
    """Return the quirks table of ``venue`` (``UnknownPluginError`` lists the known ones)."""
    _load_builtin()
    return venues.get(venue)


def venue_names() -> list[str]:
    """Return the names of every venue with a quirks table (entry-point plugins included)."""
    _load_builtin()
    return venues.names()
