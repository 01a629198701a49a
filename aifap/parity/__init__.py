"""Research-to-live parity: replay a session's period in the backtester, explain the gap.

:func:`parity` re-runs the session's frozen strategy over the session's period on the
bars it saw, with its allocation and settings, through the real backtester
(:mod:`aifap.parity.replay`); compares both cycle by cycle
(:mod:`aifap.parity.compare`); splits the PV gap at the end into six components that
add up (:mod:`aifap.parity.decompose`); and writes a JSON summary and an HTML report
(:mod:`aifap.parity.report`).
"""

from __future__ import annotations

from aifap.parity.run import ParityReport, parity

__all__ = ["ParityReport", "parity"]
