"""Binance (spot and USDⓈ-M futures, ccxt ``defaultType = "future"``).

- No SL/TP on the entry order: separate ``STOP_MARKET`` / ``TAKE_PROFIT_MARKET`` orders
  (ccxt's ``stopLossPrice`` / ``takeProfitPrice``) with ``closePosition``, so they
  cover the whole position whatever its size (Binance refuses reduce-only with it).
- Client id field ``newClientOrderId`` (at most 36 characters); Binance only refuses a
  duplicate while the first order is still open, so lookups before re-sending matter.
- Demo trading through ccxt's ``enable_demo_trading`` (the old futures testnet is gone).
"""

from __future__ import annotations

from aifap.exchange.ccxt.venues import VenueQuirks, venues

BINANCE = venues.register(
    "binance",
    VenueQuirks(
        name="binance",
        preset_stops=False,
        position_stops_replace=False,
        one_way_mode=True,
        demo="demo",
        spot_market_buy_needs_price=False,
        client_id_field="newClientOrderId",
        trigger_orders_params={"trigger": True},
        stop_order_params={"workingType": "MARK_PRICE", "closePosition": True},
        stop_reduce_only=False,
        needs_symbol_for_trades=True,
        futures_type="future",
        candle_page_limit=1000,
        order_not_found_codes=("-2013",),
        duplicate_client_id_codes=("-4116", "-2010"),
    ),
)
