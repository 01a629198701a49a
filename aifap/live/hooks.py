"""Test seam: make a session process SIGKILL itself at a named point.

``AIFAP_LIVE_KILL_AT`` holds comma-separated ``point`` or ``point@cycle`` entries
(for example ``main.between_batches@2``). A process reaching a listed point writes a
marker in its working directory and kills itself with SIGKILL, exactly as the OOM
killer or an operator would; the marker keeps the restarted session, which inherits
the same environment, from dying at the same point again. Nothing else reads it.

Points: ``main.before_send``, ``main.between_batches``, ``main.after_accept``
(the exchange accepted a batch, nothing recorded yet), ``main.before_stops``,
``strategy.after_plan``, ``finwatcher.snapshot``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "AIFAP_LIVE_KILL_AT"


def kill_point(point: str, workdir: Path, cycle: int | None = None) -> None:
    """SIGKILL this process if ``point`` (at ``cycle``) is armed and not yet used."""
    armed = os.environ.get(ENV)
    if not armed:
        return
    for entry in (e.strip() for e in armed.split(",")):
        name, _, at = entry.partition("@")
        if name != point or (at and (cycle is None or str(cycle) != at)):
            continue
        marker = workdir / f".killed-{entry.replace('@', '-at-')}"
        if marker.exists():
            return
        marker.write_text(str(os.getpid()), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)
