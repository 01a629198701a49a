"""How a session finds its gateway: by name, in the gateway registry.

A session's ``exchange`` names a registered :class:`GatewayFactory`, which opens the
gateway from the session's config and a :class:`GatewayContext` (the session's bar
source and clock). Built in: ``paper`` (the paper gateway over the session's bars) and
one name per ccxt venue table (``aifap.exchange.ccxt.venues``: the ccxt gateway) and
``remote`` (:class:`aifap.exchange.remote.client.RemoteGateway`: the account's gateway
service at the session's ``gateway_url``, which holds the keys).
Third-party packages add names through the ``aifap.gateways`` entry-point group; the
entry point loads a :class:`GatewayFactory`::

    [project.entry-points."aifap.gateways"]
    mybroker = "mybroker.aifap:FACTORY"  # GatewayFactory(open_mybroker, frozenset({"live"}))

The factories import their adapter when first called, so naming one stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError
from aifap.exchange.ccxt.venues import venue_names
from aifap.exchange.gateway import Gateway
from aifap.registry import Registry

MODES = ("paper", "demo", "live")

# what a gateway tells its session through ``GatewayContext.notify`` (kind, message)
UNREACHABLE = "gateway_unreachable"  # its service stopped answering; it retries
REACHABLE = "gateway_reachable"  # it answers again


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """What a session hands a gateway factory besides its config.

    Attributes:
        bars: the session's bar source (a paper gateway fills on it).
        clock: returns the session clock's current UTC time.
        notify: ``notify(kind, message)`` tells the session about trouble the gateway
            rides out by itself (``UNREACHABLE``: its service stopped answering and it
            retries; ``REACHABLE``: it answers again); the session alerts. None: nobody
            listens.
    """

    bars: BarSource
    clock: Callable[[], datetime]
    notify: Callable[[str, str], None] | None = None


@dataclass(frozen=True, slots=True)
class GatewayFactory:
    """How sessions open the gateway registered under one name.

    Attributes:
        open: ``open(config, context)`` returns the session's gateway; ``config`` is the
            session's :class:`aifap.live.SessionConfig` (``exchange``, ``mode``,
            ``market``, ``symbols``, ``allocation``, ``leverage``, ``credentials``...).
        modes: the session modes it serves: ``paper`` (simulated fills), ``demo`` and
            ``live`` (an account at a venue).
    """

    open: Callable[[Any, GatewayContext], Gateway]
    modes: frozenset[str]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.modes) - set(MODES))
        if not self.modes or unknown:
            raise ValueError(f"modes must be a non-empty subset of {MODES}, was {self.modes}")


gateways: Registry[GatewayFactory] = Registry("aifap.gateways")


def _open_paper(config: Any, context: GatewayContext) -> Gateway:
    from aifap.exchange.paper.gateway import PaperGateway

    return PaperGateway.for_session(config, context)


def _open_ccxt(config: Any, context: GatewayContext) -> Gateway:
    from aifap.exchange.ccxt.gateway import CcxtGateway
    from aifap.exchange.ccxt.gateway_config import CcxtConfig

    return CcxtGateway(CcxtConfig.for_session(config))


def _open_remote(config: Any, context: GatewayContext) -> Gateway:
    from aifap.exchange.remote.client import RemoteGateway

    return RemoteGateway.for_session(config, notify=context.notify)


PAPER = gateways.register("paper", GatewayFactory(_open_paper, frozenset({"paper"})))
CCXT = GatewayFactory(_open_ccxt, frozenset({"demo", "live"}))
for _venue in venue_names():
    gateways.register(_venue, CCXT)
REMOTE = gateways.register("remote", GatewayFactory(_open_remote, frozenset({"demo", "live"})))


def gateway_factory(exchange: str) -> GatewayFactory:
    """Return the factory registered as ``exchange``.

    Raises:
        ConfigError: no gateway has that name (the message lists the known ones).
    """
    if exchange not in gateways:
        raise ConfigError(
            f"exchange must be a registered gateway ({', '.join(gateways.names())}), "
            f"was {exchange!r}"
        )
    return gateways.get(exchange)


def check_mode(exchange: str, mode: str) -> None:
    """Raise ConfigError unless the gateway named ``exchange`` serves sessions in ``mode``."""
    factory = gateway_factory(exchange)
    if mode not in factory.modes:
        serving = [name for name in gateways.names() if mode in gateways.get(name).modes]
        raise ConfigError(
            f"mode must be {' or '.join(sorted(factory.modes))} on exchange {exchange!r}, "
            f"was {mode!r} (gateways for {mode}: {', '.join(serving) or 'none'})"
        )


def open_gateway(config: Any, context: GatewayContext) -> Gateway:
    """Return the gateway of the session ``config`` describes (``config.exchange``)."""
    check_mode(config.exchange, config.mode)
    return gateway_factory(config.exchange).open(config, context)
