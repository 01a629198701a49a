"""Bitget (classic v2 API, ``options.uta = False``): the reference venue.

- Futures orders carry preset SL/TP (``presetStopSurplusPrice`` / ``presetStopLossPrice``,
  ccxt's ``takeProfit`` / ``stopLoss`` params); reduce-only becomes ``"reduceOnly":"YES"``.
- Separate position SL/TP go to ``place-tpsl-order`` (``planType`` ``pos_profit`` /
  ``pos_loss``); they are listed with ``orders-plan-pending?planType=profit_loss`` and
  cancelled with ``cancel-plan-order``.
- Demo trading keeps the host and adds the ``PAPTRADING: 1`` header (``set_sandbox_mode``).
- A spot market buy is sized in USDT, so ccxt needs a reference price.
- ``clientOid``: at most 36 characters; a second order with the same one is refused.
- Executed SL/TP triggers (separate ``place-tpsl-order`` stops and the ones preset on
  an order alike) are listed by ``orders-plan-history?planType=profit_loss``, newest
  100 per symbol, with the ``executeOrderId`` they executed: stop fills are linked.
- The candle history endpoint returns at most 200 candles a request.
"""

from __future__ import annotations

from aifap.exchange.ccxt.venues import VenueQuirks, venues

BITGET = venues.register(
    "bitget",
    VenueQuirks(
        name="bitget",
        preset_stops=True,
        position_stops_replace=False,
        one_way_mode=True,
        demo="sandbox",
        spot_market_buy_needs_price=True,
        client_id_field="clientOid",
        trigger_orders_params={"trigger": True, "planType": "profit_loss"},
        stop_order_params={"triggerType": "mark_price"},
        needs_symbol_for_trades=True,
        ccxt_options={"uta": False},  # left unset, ccxt probes the v3 UTA API with keys
        candle_page_limit=200,
        trigger_history_params={"trigger": True, "planType": "profit_loss"},
        trigger_history_limit=100,
        order_not_found_codes=("40109", "40768", "43001"),
        duplicate_client_id_codes=("40757", "43116", "45116"),
    ),
)
