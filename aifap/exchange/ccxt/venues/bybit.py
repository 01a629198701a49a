"""Bybit (v5 unified API: ``category`` spot or linear).

- Futures orders carry SL/TP (``takeProfit`` / ``stopLoss`` with ``tpslMode = Full``,
  which covers the whole position); ccxt's ``stopLoss`` / ``takeProfit`` params.
- Position SL/TP are replaced in place (``/v5/position/trading-stop``), so nothing has
  to be cancelled first.
- Client id field ``orderLinkId`` (at most 36 characters).
- Unified trading account assumed (ccxt's probe of ``/v5/user/query-api`` skipped).
- ccxt's ``fetch_order`` has no client-id form here (it sends ``orderId=None``): look the
  ``orderLinkId`` up among open, then closed orders.
- Demo trading through ccxt's ``enable_demo_trading``.
"""

from __future__ import annotations

from aifap.exchange.ccxt.venues import VenueQuirks, venues

BYBIT = venues.register(
    "bybit",
    VenueQuirks(
        name="bybit",
        preset_stops=True,
        position_stops_replace=False,
        one_way_mode=True,
        demo="demo",
        spot_market_buy_needs_price=False,
        client_id_field="orderLinkId",
        trigger_orders_params={"trigger": True},
        client_id_lookup="open_then_closed",
        ccxt_options={"enableUnifiedAccount": True, "enableUnifiedMargin": False},
        candle_page_limit=1000,
        stop_order_params={},
        needs_symbol_for_trades=False,
        order_not_found_codes=("110001",),
        duplicate_client_id_codes=("110072",),
    ),
)
