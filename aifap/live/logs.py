"""Logging for live sessions: every record carries ``session_id``, ``cycle`` and the role.

Only the session's entry points call :func:`setup_logging`; library modules just use
``logging.getLogger(__name__)``. The log goes to ``<workdir>/session.log`` and stdout,
never to notebook cell output (papermill trims heavy output silently).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

LOG_NAME = "session.log"
FORMAT = (
    "%(asctime)s %(levelname)s [%(session_id)s c=%(cycle)s %(role)s pid=%(process)d] "
    "%(name)s: %(message)s"
)


class _State:
    session_id = "-"
    cycle: int | str = "-"
    role = "parent"


def set_cycle(cycle: int | None) -> None:
    """Tag this process's following records with ``cycle`` (None: between cycles)."""
    _State.cycle = "-" if cycle is None else cycle


def set_role(role: str) -> None:
    """Tag this process's following records with its role (strategy, main, finwatcher)."""
    _State.role = role


class SessionFilter(logging.Filter):
    """Add ``session_id``, ``cycle`` and ``role`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; never drop it."""
        record.session_id = _State.session_id
        record.cycle = _State.cycle
        record.role = _State.role
        return True


def setup_logging(
    workdir: Path, session_id: str, *, level: int = logging.INFO, stdout: bool = True
) -> Path:
    """Send the root logger to ``workdir/session.log`` (and stdout), tagged for the session."""
    _State.session_id = session_id
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOG_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_aifap_session", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
    if stdout:
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler._aifap_session = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(SessionFilter())
        root.addHandler(handler)
    root.setLevel(min(root.level or level, level) if root.level else level)
    return path


_seen: set[tuple[str, str]] = set()
_seen_lock = threading.Lock()


def log_once(
    logger: logging.Logger, level: int, message: str, *args: object, key: str | None = None
) -> None:
    """Log ``message`` the first time this process sees ``key`` (default: the message)."""
    ident = (logger.name, key or message)
    with _seen_lock:
        if ident in _seen:
            return
        _seen.add(ident)
    logger.log(level, message, *args)
