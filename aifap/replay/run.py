"""``aifap.parity(session)``: replay a session's period and account for every difference."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aifap.core.timeconv import from_ms
from aifap.live.config import SessionRef, resolve_session
from aifap.replay.compare import cycle_rows, first_difference
from aifap.replay.decompose import CATEGORIES, LABELS, Decomposition, decompose
from aifap.replay.records import SideView
from aifap.replay.rerun import Replay, run_replay
from aifap.replay.session import read_session, session_period


def _cents(value: Decimal) -> float:
    """Return ``value`` rounded to cents (a float's sub-cent noise below 0 is 0.00, not -0.00)."""
    return float(value.quantize(Decimal("0.01"))) or 0.0


@dataclass
class ParityReport:
    """A session against the replay of its period: the gap, its parts, every cycle.

    Attributes:
        session_id: the session.
        gap: the PV gap at the end, session minus replay, as both reported it
            (finwatcher's last snapshot; the backtest's last PV).
        decomposition: the gap from both sides' fills and funding in six components.
        cycles: one row per rebalance boundary (:func:`aifap.replay.compare.cycle_rows`).
        first_difference: the first boundary where the targets differ, both inputs.
        replay: the backtest (its :class:`~aifap.backtest.BacktestResult` in ``.result``).
        paths: ``written`` files (``json``, ``html``) once saved.
    """

    session_id: str
    start_ms: int
    end_ms: int
    session: SideView
    replay: Replay
    decomposition: Decomposition
    cycles: list[dict[str, Any]]
    first_difference: dict[str, Any] | None
    workdir: Path | None = None
    strategy: dict[str, str | None] = field(default_factory=dict)
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def gap(self) -> Decimal:
        """Return the reported PV gap at the end (session − replay)."""
        return self.session.reported_pv - self.replay.side.reported_pv

    @property
    def components(self) -> dict[str, Decimal]:
        """Return the six components (they add up to the accounted gap)."""
        return self.decomposition.components

    @property
    def largest(self) -> str | None:
        """Return the name of the largest component (None when every one is 0.00)."""
        return self.decomposition.largest

    @property
    def different_targets(self) -> list[dict[str, Any]]:
        """Return the boundaries the session ran at whose targets differ from the replay's."""
        ran = {t for t, view in self.session.cycles.items() if view.ran}
        return [r for r in self.cycles if r["time_ms"] in ran and not r["targets_equal"]]

    @property
    def identical_targets(self) -> bool:
        """Tell whether every cycle the session ran decided the replay's targets."""
        return not self.different_targets

    def summary(self) -> dict[str, Any]:
        """Return the JSON summary (money in the quote currency, rounded to cents)."""
        parts = self.components
        accounted = self.decomposition.gap
        return {
            "session_id": self.session_id,
            "strategy": self.strategy,
            "start": from_ms(self.start_ms).isoformat(),
            "end": from_ms(self.end_ms).isoformat(),
            "pv_session": _cents(self.session.reported_pv),
            "pv_backtest": _cents(self.replay.side.reported_pv),
            "pv_gap": _cents(self.gap),
            "components": {k: _cents(parts[k]) for k in CATEGORIES},
            "components_exact": {k: format(parts[k], "f") for k in CATEGORIES},
            "labels": LABELS,
            "largest": self.largest,
            "accounted_gap": _cents(accounted),
            "unexplained": _cents(self.gap - accounted),
            "cycles": len(self.cycles),
            "cycles_with_different_targets": len(self.different_targets),
            "identical_targets": self.identical_targets,
            "first_difference": self.first_difference,
        }

    def headline(self) -> str:
        """Return the one line the command prints: the gap and its largest component."""
        largest = self.largest
        part = (
            "none (every component is 0.00)"
            if largest is None
            else f"{LABELS[largest]} {_cents(self.components[largest]):+.2f}"
        )
        return (
            f"PV gap {_cents(self.gap):+.2f} (session {_cents(self.session.reported_pv):.2f} "
            f"- backtest {_cents(self.replay.side.reported_pv):.2f}); largest component: {part}"
        )

    def save(self, out: str | Path, *, html: bool = True) -> dict[str, Path]:
        """Write ``<session>_parity.json`` (and the HTML report) into ``out``."""
        from aifap.replay.report import write_report

        self.written = write_report(self, Path(out), html=html)
        return self.written


def parity_of(ref: SessionRef) -> ParityReport:
    """Return the parity report of the session ``ref`` names."""
    period, journal = session_period(ref)
    replay = run_replay(period)
    session = read_session(period, journal, replay.markets)
    quotes = {s: m.quote for s, m in replay.markets.items()}
    parts = decompose(session, replay.side, replay.marks, period.config.allocation, quotes)
    rows = cycle_rows(session, replay.side)
    return ParityReport(
        session_id=ref.session_id,
        start_ms=period.start_ms,
        end_ms=period.end_ms,
        session=session,
        replay=replay,
        decomposition=parts,
        cycles=rows,
        first_difference=first_difference(session, replay.side, rows),
        workdir=period.workdir,
        strategy={
            "strategy": period.config.strategy,
            "version": period.config.strategy_version,
        },
    )


def parity(
    session: Any, *, db: str | None = None, out: str | Path | None = None, html: bool = True
) -> ParityReport:
    """Replay a session's period in the backtester and account for every difference.

    Args:
        session: the session's working directory, its ``session.yaml``, a session
            handle (``aifap.promote``'s), or a session id (with ``db``).
        db: the results database URL (default: the config's, or the settings').
        out: write the JSON summary and the HTML report into this directory
            (``report.save(dir)`` later does the same; ``aifap parity`` writes into the
            session's ``<workdir>/parity/``, where its dashboard finds the report).
        html: with ``out``, also render the HTML report (papermill).

    Raises:
        ConfigError: the session cannot be found, never ran, or cannot be replayed.
    """
    workdir = getattr(session, "workdir", None)
    ref = resolve_session(str(workdir if workdir is not None else session), db)
    report = parity_of(ref)
    if out is not None:
        report.save(out, html=html)
    return report
