"""Build a session's bar source and gateway from its config (the one place that knows them).

The gateway is the one registered under the session's ``exchange``
(:mod:`aifap.exchange.factories`): ``paper`` fills on the session's bar source and
clock; a ccxt venue (``bitget``...) trades on the venue (``exchange_url`` points it at
the emulator); a third-party name is whatever its entry point registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aifap.core.bars import BarSource
from aifap.core.errors import UnknownSymbolError
from aifap.core.markets import MarketSpec
from aifap.exchange import factories
from aifap.exchange.factories import UNREACHABLE, GatewayContext
from aifap.exchange.gateway import Gateway
from aifap.live.clock import SessionClock
from aifap.live.config import SessionConfig

if TYPE_CHECKING:
    from aifap.live.alerting import SessionAlerts


def open_bars(config: SessionConfig) -> BarSource:
    """Return the bar source ``config.bar_source`` names.

    ``synthetic`` is the built-in synthetic market; ``store`` the market database
    (``market_database_url`` or the settings'); anything else goes to
    :func:`aifap.data.sources.open_bar_source` (a directory or a URL).
    """
    from aifap.data.sources import open_bar_source

    spec = config.bar_source
    if spec == "synthetic":
        return open_bar_source(None, market=config.market, symbols=config.symbols)
    if spec == "store":
        spec = config.market_url()
    elif not spec.startswith(("sqlite:", "postgresql", "http://", "https://")):
        spec = str(Path(spec))
    return open_bar_source(spec, market=config.market, symbols=config.symbols)


def open_gateway(
    config: SessionConfig,
    clock: SessionClock,
    bars: BarSource,
    alerts: SessionAlerts | None = None,
) -> Gateway:
    """Return a gateway for the session's account: the one registered as ``config.exchange``.

    With ``alerts``, what the gateway notifies (its service unreachable: an error alert;
    reachable again: a warning event) reaches the session's alerts.
    """
    notify = None
    if alerts is not None:
        session_alerts = alerts

        def notify(kind: str, message: str) -> None:
            if kind == UNREACHABLE:
                session_alerts.error("gateway", message, clock.ms(), kind=kind, summary=message)
            else:
                session_alerts.warning(kind, message, clock.ms())

    return factories.open_gateway(
        config, GatewayContext(bars=bars, clock=clock.now, notify=notify)
    )


def session_markets(config: SessionConfig, gateway: Gateway) -> dict[str, MarketSpec]:
    """Return the session symbols' market specs; raise UnknownSymbolError for a missing one."""
    markets = gateway.markets()
    missing = [s for s in config.symbols if s not in markets]
    if missing:
        raise UnknownSymbolError(
            f"symbols: each must be tradable on {config.exchange} {config.market.value}, "
            f"{', '.join(missing)} was not"
        )
    return {s: markets[s] for s in config.symbols}
