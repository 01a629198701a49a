"""What the session's processes share (events, clock, flags) and how each builds its tools.

The parent creates one :class:`Runtime` before forking; each child calls
:meth:`Runtime.enter` first, which binds its clock slot, tags its log records and
opens its own database engine, gateway and bar source (connections never cross a
fork).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from aifap.core.bars import BarSource
from aifap.core.markets import MarketSpec
from aifap.db import make_engine
from aifap.exchange.gateway import Gateway
from aifap.live.clock import SessionClock
from aifap.live.config import SessionConfig
from aifap.live.journal import Journal
from aifap.live.logs import set_role

if TYPE_CHECKING:
    from aifap.live.alerting import SessionAlerts

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class Shared:
    """The seed's three events plus the flags the parent and children exchange."""

    rebalance_start_event: Event
    strategy_done_event: Event
    autotrade_done_event: Event
    stop_event: Event
    cycle: Synchronized[int]  # the cycle in flight (or the last one)
    tick_ms: Synchronized[int]  # the scheduled time of the newest tick
    in_cycle: Synchronized[int]  # 1 while a cycle runs (tick -> autotrade done handled)
    fail_code: Synchronized[int]  # 0, or the exit code a child asks the session to stop with
    fail_reason: Any  # a SynchronizedArray of c_char: its .value is the bytes

    @classmethod
    def create(cls, ctx: BaseContext) -> Shared:
        """Create the events and shared values in the parent."""
        return cls(
            rebalance_start_event=ctx.Event(),
            strategy_done_event=ctx.Event(),
            autotrade_done_event=ctx.Event(),
            stop_event=ctx.Event(),
            cycle=ctx.Value("q", 0),
            tick_ms=ctx.Value("q", 0),
            in_cycle=ctx.Value("i", 0),
            fail_code=ctx.Value("i", 0),
            fail_reason=ctx.Array("c", 1024),
        )

    def cycle_pending(self) -> bool:
        """Tell whether a cycle is queued or running (a new tick must then be skipped)."""
        return (
            bool(self.in_cycle.value)
            or self.rebalance_start_event.is_set()
            or (self.strategy_done_event.is_set() or self.autotrade_done_event.is_set())
        )

    def fail(self, code: int, reason: str) -> None:
        """Ask the parent to stop the session with ``code`` (the first reason wins)."""
        with self.fail_code.get_lock():
            if self.fail_code.value == 0:
                self.fail_code.value = code
                self.fail_reason.value = reason.encode("utf-8", "replace")[:1023]
        self.stop_event.set()

    @property
    def reason(self) -> str:
        """Return the reason a child gave for stopping the session."""
        return bytes(self.fail_reason.value).decode("utf-8", "replace")


@dataclass
class Runtime:
    """One session's shared state plus per-process tool factories."""

    config: SessionConfig
    clock: SessionClock
    shared: Shared
    start_ms: int  # the session's first start on the session clock
    _engine: Engine | None = field(default=None, repr=False)
    _bars: BarSource | None = field(default=None, repr=False)

    @property
    def workdir(self) -> Any:
        """Return the session's working directory."""
        return self.config.working_directory

    def enter(self, role: str, slot: int | None) -> Journal:
        """Prepare this (child) process: clock slot, log tag, own engine; return its journal."""
        set_role(role)
        if slot is not None:
            self.clock.bind(slot)
        self._engine = make_engine(self.config.results_url(), fresh=True)
        self._bars = None
        return Journal(self._engine, self.config.id)

    @property
    def engine(self) -> Engine:
        """Return this process's results database engine."""
        if self._engine is None:
            self._engine = make_engine(self.config.results_url(), fresh=True)
        return self._engine

    def bars(self) -> BarSource:
        """Return the session's bar source (opened once per process)."""
        if self._bars is None:
            from aifap.live.wiring import open_bars

            self._bars = open_bars(self.config)
        return self._bars

    def gateway(self, alerts: SessionAlerts | None = None) -> Gateway:
        """Return a new gateway for the session's account on the session clock.

        ``alerts``: where the gateway's notices go (its service unreachable).
        """
        from aifap.live.wiring import open_gateway

        return open_gateway(self.config, self.clock, self.bars(), alerts)

    def markets(self, gateway: Gateway) -> dict[str, MarketSpec]:
        """Return the session symbols' market specs; raise if the venue lacks one."""
        from aifap.live.wiring import session_markets

        return session_markets(self.config, gateway)
