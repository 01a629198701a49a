"""The audit log: every change to the org model, by whom, when (never a secret)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy.orm import Session

from aifap.api.models import AuditEntry


def now_ms() -> int:
    """Return the wall clock as UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def record(db: Session, actor: str, action: str, target: str, **detail: Any) -> AuditEntry:
    """Add an audit entry to ``db``'s transaction (committed with the change it records)."""
    entry = AuditEntry(
        ts_ms=now_ms(),
        actor=actor,
        action=action,
        target=target,
        detail=json.dumps(detail, default=str, sort_keys=True),
    )
    db.add(entry)
    return entry
