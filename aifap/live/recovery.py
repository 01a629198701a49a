"""Start or restart a session against the journal and the exchange, before any new plan.

In order:

1. create the session row (first start) or count a new run;
2. record every fill of the session's symbols the exchange reports since the last
   recorded one (fills that arrived while the session was down);
3. compare the exchange's positions with the book the journal expects (baseline +
   our own fills, SL/TP fills included). A difference is a position changed by hand:
   ``on_foreign_position='refuse'`` raises :class:`ForeignPositionError` (alert and
   stop), ``'adopt'`` takes the exchange's positions as the new baseline;
4. replay the unfinished cycle with the same client ids (look each order up, send
   only those never seen), unless the book was just adopted (then the unsent rest of
   that cycle is abandoned: sending it on top of a hand-changed book could double it).
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from aifap.core.errors import AifapError
from aifap.core.markets import MarketSpec
from aifap.exchange.gateway import Gateway
from aifap.live.alerting import SessionAlerts
from aifap.live.clock import SessionClock
from aifap.live.codec import dumps, plan_from_dict
from aifap.live.config import SessionConfig
from aifap.live.execution import Executor
from aifap.live.journal import Journal
from aifap.live.models import LiveSession
from aifap.live.planning import session_wallet

log = logging.getLogger(__name__)


class ForeignPositionError(AifapError):
    """The exchange holds positions the session did not make, and it refuses to adopt them."""


def open_session_row(
    config: SessionConfig, journal: Journal, gateway: Gateway, clock: SessionClock
) -> LiveSession:
    """Create the session's row on its first start, or count a new run; return the row."""
    now = clock.ms()
    row = journal.session_row()
    if row is None:
        journal.create_session(
            LiveSession(
                session_id=config.id,
                trader=config.trader,
                strategy=config.strategy_name,
                account_key=config.account_key,
                config_json=dumps(config.redacted()),
                status="running",
                started_ms=now,
                run_started_ms=now,
                initial_equity=config.allocation,
                initial_wallet=session_wallet(gateway, config),
                clock_ms=now,
                baseline_json="{}",
                baseline_epoch=0,
                runs=1,
                workdir=str(config.working_directory),
            )
        )
    else:
        journal.update_session(
            status="running",
            run_started_ms=now,
            runs=row.runs + 1,
            exit_code=None,
            reason=None,
            stopped_ms=None,
            config_json=dumps(config.redacted()),
        )
    fresh = journal.session_row()
    assert fresh is not None
    return fresh


def expected_book(journal: Journal, row: LiveSession) -> dict[str, Decimal]:
    """Return the signed size per symbol the journal expects at the exchange."""
    book = {k: Decimal(v) for k, v in json.loads(row.baseline_json or "{}").items()}
    for symbol, size in journal.book(row.baseline_epoch).items():
        book[symbol] = book.get(symbol, Decimal(0)) + size
    return {k: v for k, v in book.items() if v != 0}


def foreign_differences(
    expected: dict[str, Decimal], actual: dict[str, Decimal], markets: dict[str, MarketSpec]
) -> list[str]:
    """Describe every symbol whose exchange size differs from the expected one.

    Sizes within half an amount step agree. On spot, two holdings below the market's
    minimum amount agree too: dust (what a full exit leaves, or the venue's leftovers)
    can be neither sold nor told apart from fee rounding.
    """
    out = []
    for symbol in sorted(set(expected) | set(actual)):
        want, have = expected.get(symbol, Decimal(0)), actual.get(symbol, Decimal(0))
        market = markets.get(symbol)
        step = market.amount_step if market is not None else Decimal(0)
        if (
            market is not None
            and not market.is_futures
            and _dust(want, market)
            and _dust(have, market)
        ):
            continue
        if abs(want - have) > step / 2:
            out.append(f"{symbol} expected {want}, exchange has {have}")
    return out


def _dust(size: Decimal, market: MarketSpec) -> bool:
    return 0 <= size < market.min_amount


def recover(
    config: SessionConfig,
    journal: Journal,
    gateway: Gateway,
    clock: SessionClock,
    markets: dict[str, MarketSpec],
    alerts: SessionAlerts,
) -> LiveSession:
    """Run steps 1-4 of the module docstring; return the session row.

    Raises:
        ForeignPositionError: positions changed by hand and ``on_foreign_position`` is refuse.
        GatewayError: the exchange failed past the retry budget.
    """
    row = open_session_row(config, journal, gateway, clock)
    executor = Executor(gateway, journal, clock, config.working_directory, config.symbols, alerts)
    new = executor.sync_fills()
    if new and row.runs > 1:
        log.info("recorded %d fills that arrived while the session was down", len(new))
    for stale in (c for c in journal.cycles() if c.state == "started"):
        journal.skip_cycle(stale.cycle, "interrupted before a plan was made", clock.ms())
    unfinished = journal.unfinished_cycle()
    unsent_expected = _unsent_sizes(journal, unfinished.cycle) if unfinished else {}
    actual = {p.symbol: p.size for p in gateway.positions() if p.symbol in config.symbols}
    expected = expected_book(journal, row)
    differences = foreign_differences(expected, actual, markets)
    adopted = False
    if differences:
        message = "positions changed outside the session: " + "; ".join(differences)
        if config.on_foreign_position == "refuse":
            alerts.critical("reconcile", message + " (on_foreign_position=refuse)", clock.ms())
            raise ForeignPositionError(
                f"on_foreign_position=refuse: {message}; set on_foreign_position: adopt to "
                "take the exchange's positions as the session's book"
            )
        journal.update_session(
            baseline_json=dumps({k: format(v, "f") for k, v in actual.items()}),
            baseline_epoch=row.baseline_epoch + 1,
        )
        alerts.error(
            "reconcile", message + " (adopted as the new book)", clock.ms(), kind="foreign_adopted"
        )
        adopted = True
    if unfinished is not None:
        if adopted:
            journal.skip_cycle(
                unfinished.cycle,
                "abandoned: the book was adopted on restart",
                clock.ms(),
                "abandoned",
            )
        elif unfinished.plan_json:
            log.warning(
                "replaying unfinished cycle %s (unsent: %s)",
                unfinished.cycle,
                unsent_expected or "none",
            )
            executor.execute(
                unfinished.cycle, plan_from_dict(json.loads(unfinished.plan_json)), replay=True
            )
            journal.event(
                "warning",
                "replayed",
                f"cycle {unfinished.cycle} replayed on restart",
                clock.ms(),
                unfinished.cycle,
            )
    fresh = journal.session_row()
    assert fresh is not None
    return fresh


def final_sync(
    config: SessionConfig, journal: Journal, gateway: Gateway, clock: SessionClock
) -> int:
    """Record the fills that came in after the last cycle (at a clean stop); return how many."""
    executor = Executor(gateway, journal, clock, config.working_directory, config.symbols)
    return len(executor.sync_fills())


def _unsent_sizes(journal: Journal, cycle: int) -> dict[str, str]:
    return {
        o.client_id: o.status for o in journal.orders(cycle) if o.status in ("intended", "missing")
    }
