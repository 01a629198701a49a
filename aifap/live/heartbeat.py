"""The heartbeat file a liveness check outside the session reads.

``<workdir>/heartbeat.json`` (written atomically about once a second by the parent)::

    {"session_id": "...", "wall_time": "2026-...Z", "wall_ms": 1764..., "sim_time": "...",
     "status": "running", "cycle": 12, "pid": <parent>,
     "pids": {"strategy": 1, "main": 2, "finwatcher": 3}, "exit_code": null}

A heartbeat older than a few seconds while ``status`` is ``running`` means the
session hangs or died without cleaning up.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aifap.live.handoff import read_state, write_atomic

HEARTBEAT_NAME = "heartbeat.json"


def write_heartbeat(workdir: Path, **fields: Any) -> None:
    """Write the heartbeat with the wall time and ``fields``."""
    now = time.time()
    data = {
        "wall_time": datetime.fromtimestamp(now, tz=UTC).isoformat(),
        "wall_ms": int(now * 1000),
        "pid": os.getpid(),
        **fields,
    }
    write_atomic(workdir / HEARTBEAT_NAME, json.dumps(data, sort_keys=True, default=str))


def read_heartbeat(workdir: Path) -> dict[str, Any] | None:
    """Return the heartbeat, or None when there is none (or it is unreadable)."""
    return read_state(workdir / HEARTBEAT_NAME)


def heartbeat_age(heartbeat: dict[str, Any]) -> float:
    """Return the heartbeat's age in wall seconds."""
    return time.time() - float(heartbeat.get("wall_ms", 0)) / 1000
