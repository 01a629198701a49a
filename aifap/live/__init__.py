"""Live and paper trading sessions: three processes, the journal, the clock, crash recovery.

Start one in the foreground with :func:`run_session` (or ``aifap live run CONFIG``).
"""

from typing import Any

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


def run_session(*args: Any, **kwargs: Any) -> int:
    """Run a session in the foreground; see :func:`aifap.live.supervisor.run_session`."""
    from aifap.live.supervisor import run_session as run

    return run(*args, **kwargs)
