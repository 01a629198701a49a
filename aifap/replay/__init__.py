"""Research-to-live parity (`aifap.parity`): replay a session's period, explain the gap.

:func:`parity` re-runs the session's frozen strategy over the session's period on the
bars it saw, with its allocation and settings, through the real backtester
(:mod:`aifap.replay.rerun`); compares both cycle by cycle
(:mod:`aifap.replay.compare`); splits the PV gap at the end into six components that
add up (:mod:`aifap.replay.decompose`); and writes a JSON summary and an HTML report
(:mod:`aifap.replay.report`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ParityReport", "parity"]


def __getattr__(name: str) -> Any:
    """Import :mod:`aifap.replay.run` on first use (the dashboard needs only ``files``)."""
    if name not in __all__:
        raise AttributeError(f"module 'aifap.replay' has no attribute {name!r}")
    return getattr(import_module("aifap.replay.run"), name)
