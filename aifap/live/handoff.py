"""The order hand-off file ``order_info.json``: written atomically, read by the main process.

Write-then-rename with fsync of the file and its directory, so a reader (or a
restart after a crash) sees either the previous complete plan or the new one, never
a torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aifap.core.errors import AifapError
from aifap.live.codec import dumps

HANDOFF_NAME = "order_info.json"


class HandoffError(AifapError):
    """The hand-off file is missing, torn or belongs to another cycle."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file, fsync, rename and directory fsync."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_state(path: Path) -> dict[str, Any] | None:
    """Return a JSON state file written with :func:`write_atomic`, or None when unreadable."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def write_handoff(workdir: Path, payload: dict[str, Any]) -> Path:
    """Write one cycle's plan to ``workdir/order_info.json``."""
    path = workdir / HANDOFF_NAME
    write_atomic(path, dumps(payload))
    return path


def read_handoff(workdir: Path, session_id: str, cycle: int) -> dict[str, Any]:
    """Read the plan of ``cycle``; raise HandoffError if the file is not that cycle's."""
    path = workdir / HANDOFF_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HandoffError(f"{HANDOFF_NAME} must be a readable JSON file: {exc}") from exc
    if data.get("session_id") != session_id or data.get("cycle") != cycle:
        raise HandoffError(
            f"{HANDOFF_NAME} must hold cycle {cycle} of session {session_id!r}, "
            f"was cycle {data.get('cycle')} of {data.get('session_id')!r}"
        )
    return dict(data)
