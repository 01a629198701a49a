"""What every launcher and session handle offers (local processes now, Kubernetes later).

A :class:`Launcher` starts the live-session notebook for a session config that is
already written into the session's working directory, and returns a
:class:`SessionHandle`. The handle is how a notebook (``aifap.promote``) or the CLI
follows the session: ``status()``, ``logs()``, ``stop()``, ``wait()`` and the
``dashboard_url`` (None while no dashboard runs for the session).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

SESSION_STATES = ("starting", "running", "stopping", "stopped", "failed", "dead")


@dataclass(frozen=True)
class SessionStatus:
    """A session's state as its handle sees it.

    Attributes:
        session_id: the session.
        state: ``starting`` (launched, no heartbeat yet), ``running``, ``stopping``,
            ``stopped`` (ended cleanly), ``failed`` or ``dead`` (its process vanished
            without a final word).
        cycle: the newest rebalancing cycle.
        sim_time: the session clock's time (simulated on a replay) at the last heartbeat.
        exit_code: the run's exit code once it ended.
        reason: why it ended, or why it is considered dead.
        pids: the session's process ids (runner, kernel, strategy, main, finwatcher).
        heartbeat_age: wall seconds since the session's last heartbeat.
    """

    session_id: str
    state: str
    cycle: int | None = None
    sim_time: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    pids: dict[str, int | None] = field(default_factory=dict)
    heartbeat_age: float | None = None

    @property
    def running(self) -> bool:
        """Tell whether the session may still trade (starting, running or stopping)."""
        return self.state in ("starting", "running", "stopping")

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a plain dict."""
        return asdict(self)

    def __str__(self) -> str:
        text = f"{self.session_id}: {self.state}, cycle {self.cycle}, clock {self.sim_time}"
        if self.exit_code is not None:
            text += f", exit code {self.exit_code}"
        return text + (f" ({self.reason})" if self.reason else "")


@runtime_checkable
class SessionHandle(Protocol):
    """A launched session."""

    session_id: str
    workdir: Path

    @property
    def dashboard_url(self) -> str | None:
        """Return the session's dashboard URL, or None while there is none."""
        ...

    def status(self) -> SessionStatus:
        """Return the session's current state."""
        ...

    def logs(self, n: int = 50) -> str:
        """Return the last ``n`` lines of the session's log."""
        ...

    def stop(self, timeout: float = 60.0) -> SessionStatus:
        """Stop the session cleanly (or kill it after ``timeout`` seconds); return its state."""
        ...

    def wait(
        self,
        timeout: float | None = None,
        *,
        cycles: int | None = None,
        state: str | None = None,
    ) -> SessionStatus:
        """Wait until the session ends, has done ``cycles`` cycles or is in ``state``.

        Raises:
            TimeoutError: ``timeout`` seconds passed first (naming the session and its state).
        """
        ...


@runtime_checkable
class Launcher(Protocol):
    """Starts a session's live notebook somewhere and returns its handle."""

    def launch(
        self,
        config_path: Path,
        *,
        workdir: Path,
        session_id: str,
        env: dict[str, str] | None = None,
    ) -> SessionHandle:
        """Start the session whose config is ``config_path``; return its handle."""
        ...
