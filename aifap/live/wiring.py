"""Build a session's bar source and gateway from its config (the one place that knows them).

Paper sessions use the paper gateway over the session's bar source and clock; demo
and live sessions use the ccxt gateway (``exchange_url`` points it at the emulator).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError, UnknownSymbolError
from aifap.core.markets import MarketSpec
from aifap.exchange.gateway import Gateway
from aifap.live.clock import SessionClock
from aifap.live.config import SessionConfig

if TYPE_CHECKING:
    from aifap.exchange.ccxt.gateway_config import CcxtConfig


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


def open_gateway(config: SessionConfig, clock: SessionClock, bars: BarSource) -> Gateway:
    """Return a gateway for the session's account."""
    if config.mode == "paper":
        return _paper_gateway(config, clock, bars)
    from aifap.exchange.ccxt.gateway import CcxtGateway

    return CcxtGateway(ccxt_config(config))


def ccxt_config(config: SessionConfig) -> CcxtConfig:
    """Return the ccxt gateway settings of a demo or live session.

    ``confirm_orders`` is off: a market order the exchange accepted is journaled with
    the acknowledgement, and its fills (and final state) are synced after the cycle's
    last batch instead of fetching each order again on the way.
    """
    from aifap.exchange.ccxt.gateway_config import CcxtConfig

    keys = config.credentials.resolve()
    return CcxtConfig(
        venue=config.exchange,
        market_type=config.market,
        api_key=keys["api_key"],
        secret=keys["secret"],
        password=keys["password"],
        demo=config.mode == "demo",
        api_url=config.exchange_url,
        leverage=config.leverage,
        confirm_orders=False,
        retry=config.retry.policy(),
    )


def _paper_gateway(config: SessionConfig, clock: SessionClock, bars: BarSource) -> Gateway:
    """Return the session's paper account; every process may hold one (see ``PaperGateway``)."""
    from aifap.core.timeframes import parse_duration
    from aifap.exchange.paper import PaperGateway

    markets_of = getattr(bars, "markets", None)
    if markets_of is None:
        raise ConfigError(
            f"bar_source: a paper session needs market specs from its bar "
            f"source, {config.bar_source!r} has none"
        )
    return PaperGateway(
        markets_of(),
        bars,
        url=config.results_url(),
        account=config.account_label,
        capital=config.allocation,
        leverage=config.leverage,
        market_type=config.market,
        clock=clock.now,
        timeframe=config.bar_timeframe,
        late_bars=parse_duration(config.bar_max_age),
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
