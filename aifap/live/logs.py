"""Logging for live sessions: every record carries ``session_id``, ``cycle`` and the role.

Only the session's entry points call :func:`setup_logging`; library modules just use
``logging.getLogger(__name__)``. The log goes to ``<workdir>/session.log`` and stdout,
never to notebook cell output (papermill trims heavy output silently). Tracebacks stay
in the file: the console copy (stdout, or the papermill runner's echo of the file)
shows each record without them, so a failure reads as its one-line message.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

LOG_NAME = "session.log"
FORMAT = (
    "%(asctime)s %(levelname)s [%(session_id)s c=%(cycle)s %(role)s pid=%(process)d] "
    "%(name)s: %(message)s"
)


TRACEBACK = "Traceback (most recent call last):"
TRACEBACK_NOTE = "(traceback in session.log)"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


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


def without_traceback(text: str) -> str:
    """Return a formatted record cut where a traceback starts (noting where it is)."""
    start = text.find(TRACEBACK)
    if start < 0:
        return text
    return f"{text[:start].rstrip()} {TRACEBACK_NOTE}"


class ConsoleFormatter(logging.Formatter):
    """Format records for the console: the session log's format without tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's line(s) without ``exc_info`` or a traceback in the message."""
        plain = logging.makeLogRecord(record.__dict__)
        plain.exc_info = plain.exc_text = plain.stack_info = None
        return without_traceback(super().format(plain))


class TracebackSkipper:
    """Drop traceback lines from a stream of session log lines (the runner's echo)."""

    def __init__(self) -> None:
        self.skipping = False

    def __call__(self, lines: Iterable[str]) -> Iterator[str]:
        """Yield the lines (without newlines) outside tracebacks, noting each one cut."""
        for line in lines:
            if self.skipping:
                if not RECORD_START.match(line):
                    continue
                self.skipping = False
            if TRACEBACK in line:
                self.skipping = True
                yield without_traceback(line).strip() if line.find(TRACEBACK) else TRACEBACK_NOTE
                continue
            yield line


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
        file = isinstance(handler, logging.FileHandler)
        handler.setFormatter(logging.Formatter(FORMAT) if file else ConsoleFormatter(FORMAT))
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
