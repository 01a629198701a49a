"""Live and paper trading sessions: three processes, the journal, the clock, crash recovery.

Start one in the foreground with :func:`run_session` (or ``aifap live run CONFIG``).

The names below are imported on first use: the dashboards and the results service
import small submodules (``heartbeat``, ``models``) and must not pay for the session
machinery (config, leases, recovery, alerting) on every kernel start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aifap.live.config import SessionConfig, load_config, make_config
    from aifap.live.lease import LeaseConflictError
    from aifap.live.recovery import ForeignPositionError

__all__ = [
    "ForeignPositionError",
    "LeaseConflictError",
    "SessionConfig",
    "load_config",
    "make_config",
    "run_session",
]

_HOMES = {
    "ForeignPositionError": "aifap.live.recovery",
    "LeaseConflictError": "aifap.live.lease",
    "SessionConfig": "aifap.live.config",
    "load_config": "aifap.live.config",
    "make_config": "aifap.live.config",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'aifap.live' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)


def run_session(*args: Any, **kwargs: Any) -> int:
    """Run a session in the foreground; see :func:`aifap.live.supervisor.run_session`."""
    from aifap.live.supervisor import run_session as run

    return run(*args, **kwargs)
