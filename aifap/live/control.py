"""Look at and stop sessions from outside: status, stop (SIGTERM via the heartbeat), logs.

A session is found by id in the results database (its row holds the working
directory) or, failing that, in the default sessions directory.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from aifap.core.errors import ConfigError
from aifap.db import database_url, make_engine, migrate, session_factory
from aifap.live.heartbeat import heartbeat_age, read_heartbeat
from aifap.live.logs import LOG_NAME
from aifap.live.models import LiveSession
from aifap.procs import pid_alive
from aifap.settings import get_settings

STALE_AFTER = 10.0  # wall seconds without a heartbeat before a running session counts as hung


def _rows(url: str | None, session_id: str | None) -> list[LiveSession]:
    url = url or database_url("results")
    migrate(url)
    query = select(LiveSession).order_by(LiveSession.session_id)
    if session_id is not None:
        query = query.where(LiveSession.session_id == session_id)
    with session_factory(make_engine(url))() as db:
        return list(db.scalars(query))


def session_workdir(session_id: str, url: str | None = None) -> Path:
    """Return the working directory of ``session_id``; raise ConfigError if unknown."""
    rows = _rows(url, session_id)
    if rows:
        return Path(rows[0].workdir)
    default = get_settings().data_dir / "sessions" / session_id
    if default.is_dir():
        return default
    raise ConfigError(f"session {session_id!r} must exist in the results database, it does not")


def session_status(session_id: str | None = None, url: str | None = None) -> list[dict[str, Any]]:
    """Return one status dict per session (all, or ``session_id``)."""
    rows = _rows(url, session_id)
    if session_id is not None and not rows:
        raise ConfigError(f"session {session_id!r} must exist in the results database, it does not")
    out = []
    for row in rows:
        beat = read_heartbeat(Path(row.workdir)) or {}
        alive = pid_alive(beat.get("pid")) and beat.get("status") == "running"
        state = row.status
        if row.status == "running" and not alive:
            state = "dead"
        elif alive and heartbeat_age(beat) > STALE_AFTER:
            state = "hung"
        out.append(
            {
                "session_id": row.session_id,
                "status": state,
                "exit_code": row.exit_code,
                "reason": row.reason,
                "trader": row.trader,
                "strategy": row.strategy,
                "runs": row.runs,
                "cycle": beat.get("cycle"),
                "pid": beat.get("pid"),
                "pids": beat.get("pids"),
                "sim_time": beat.get("sim_time"),
                "heartbeat_age": round(heartbeat_age(beat), 1) if beat else None,
                "workdir": row.workdir,
            }
        )
    return out


def stop_session(session_id: str, *, url: str | None = None, timeout: float = 60.0) -> bool:
    """Send SIGTERM to the session's parent (pid from the heartbeat); wait for it to exit.

    Returns True once it is gone, False if it still runs after ``timeout`` seconds.
    """
    beat = read_heartbeat(session_workdir(session_id, url))
    pid = beat.get("pid") if beat else None
    if not pid_alive(pid) or (beat or {}).get("status") != "running":
        return True
    os.kill(int(pid), signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def log_path(session_id: str, url: str | None = None) -> Path:
    """Return the path of the session's log file."""
    return session_workdir(session_id, url) / LOG_NAME
