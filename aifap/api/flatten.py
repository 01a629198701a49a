"""Flatten a stopped session: close every position of its account, reduce-only.

Used when a manager's risk limit is breached with ``on_breach: flatten``. The session
must already be stopped (its own loop would reopen positions). The gateway is the
session's own (the gateway registered for its config, with its keys, or its
account's gateway service with a fresh token), so the same venue, account and market
are closed; client ids are deterministic per session
and minute, so a repeated flatten is looked up, not sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from aifap.core.orders import OrderRequest, Side, client_order_id
from aifap.core.timeframes import timeframe_seconds
from aifap.exchange.credentials import Credentials
from aifap.exchange.factories import GatewayContext, open_gateway
from aifap.live.config import load_config
from aifap.live.wiring import open_bars


def flatten_session(
    workdir: Path,
    at: datetime,
    keys: Mapping[str, str] | None = None,
    gateway_token: str | None = None,
) -> list[str]:
    """Close every open position of the session in ``workdir``; return the symbols closed.

    ``keys``: the account's ``api_key``, ``secret`` and ``password``; ``gateway_token``:
    for a session trading through a gateway service (``exchange: remote``), a token on
    its account. The session read either from its own environment, which this process
    does not have.
    """
    config = load_config(workdir)
    if keys:
        given = {name: SecretStr(value) for name, value in keys.items()}
        credentials = Credentials.model_validate(given)
        config = config.model_copy(update={"credentials": credentials})
    if gateway_token is not None:
        config = config.model_copy(update={"gateway_token": SecretStr(gateway_token)})
    # the gateway's clock: the session's last time (a replay clock stops with the session);
    # moved two bars on after the orders, so a paper account fills them at the next open
    now = [at]
    context = GatewayContext(bars=open_bars(config), clock=lambda: now[0])
    gateway = open_gateway(config, context)
    try:
        cycle = int(at.timestamp() // 60)
        orders = [
            OrderRequest(
                client_id=client_order_id(config.id, cycle, p.symbol, "flatten"),
                symbol=p.symbol,
                side=Side.SELL if p.size > 0 else Side.BUY,
                amount=abs(p.size),
                reduce_only=True,
                leg="close",
            )
            for p in gateway.positions()
            if p.size != 0
        ]
        if orders:
            gateway.place_orders(orders)
            now[0] = at + 2 * timedelta(seconds=timeframe_seconds(config.bar_timeframe))
            gateway.positions()  # a paper account settles its fills up to the clock
        return [o.symbol for o in orders]
    finally:
        gateway.close()
