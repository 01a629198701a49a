"""The alert outbox: every alert is a committed row before anything is sent.

One row per alert and channel, drained in id order by the session's worker. A row
is ``pending`` (deliverable now), ``held`` (a coalesced error waiting for its window
to close), ``sent`` or ``failed`` (refused for good; kept for inspection).

Coalescing: an error alert with a ``coalesce_key`` is folded into the newest row
of the same key and channel while that row is unsent (its ``count`` grows); if
that row was sent less than ``window`` seconds ago, a ``held`` row collects further
occurrences until the window closes. The count is the number of occurrences the
message reports: the seed's "Partial Failure (1)".

Times are Unix seconds (``time.time()``) so both backends compare them alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Float, Index, Integer, String, Text, and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from aifap.alerts.messages import Alert
from aifap.db import Base

PENDING, HELD, SENT, FAILED = "pending", "held", "sent", "failed"


class AlertRow(Base):
    """One alert bound for one channel."""

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_session_status", "session_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    count: Mapped[int] = mapped_column(Integer, default=1)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    coalesce_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_ts: Mapped[float] = mapped_column(Float)
    deliver_after_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    sent_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True, slots=True)
class Pending:
    """A deliverable row, detached from the database session."""

    id: int
    channel: str
    alert: Alert
    count: int
    parts_sent: int
    attempts: int


class Outbox:
    """The outbox rows of one session in the results database."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id

    def add(
        self, alert: Alert, channels: Iterable[str], *, now: float, window: float = 0.0
    ) -> list[int]:
        """Commit ``alert`` for each of ``channels`` (coalescing errors); return row ids."""
        payload = json.dumps(alert.to_json(), ensure_ascii=False)
        ids: list[int] = []
        with Session(self.engine) as db, db.begin():
            for channel in channels:
                row_id = None
                if alert.coalesce_key is not None and window > 0:
                    row_id = self._coalesce(db, alert, channel, now, window, payload)
                if row_id is None:
                    row = self._row(alert, channel, payload, now)
                    db.add(row)
                    db.flush()
                    row_id = row.id
                ids.append(row_id)
        return ids

    def _row(self, alert: Alert, channel: str, payload: str, now: float, **kw: object) -> AlertRow:
        return AlertRow(
            session_id=self.session_id,
            channel=channel,
            kind=alert.kind.value,
            payload=payload,
            status=kw.get("status", PENDING),
            count=alert.count,
            parts_sent=0,
            attempts=0,
            coalesce_key=alert.coalesce_key,
            created_ts=now,
            deliver_after_ts=kw.get("deliver_after_ts"),
        )

    def _coalesce(
        self, db: Session, alert: Alert, channel: str, now: float, window: float, payload: str
    ) -> int | None:
        latest = db.scalars(
            select(AlertRow)
            .where(
                AlertRow.session_id == self.session_id,
                AlertRow.channel == channel,
                AlertRow.kind == alert.kind.value,
                AlertRow.coalesce_key == alert.coalesce_key,
            )
            .order_by(AlertRow.id.desc())
            .limit(1)
        ).first()
        if latest is None:
            return None
        if latest.status in (PENDING, HELD) and latest.parts_sent == 0:
            bumped = db.execute(
                update(AlertRow)
                .where(AlertRow.id == latest.id, AlertRow.parts_sent == 0)
                .values(count=AlertRow.count + 1)
            )
            return latest.id if bumped.rowcount else None  # type: ignore[attr-defined]
        if latest.status == SENT and latest.sent_ts is not None and now - latest.sent_ts < window:
            row = self._row(alert, channel, payload, now, status=HELD)
            row.deliver_after_ts = latest.sent_ts + window
            db.add(row)
            db.flush()
            return row.id
        return None

    def deliverable(
        self, channels: Sequence[str], *, now: float, limit: int = 100
    ) -> list[Pending]:
        """Return the rows that may be sent now, oldest first."""
        due = or_(
            AlertRow.status == PENDING,
            and_(AlertRow.status == HELD, AlertRow.deliver_after_ts <= now),
        )
        with Session(self.engine) as db:
            rows = db.scalars(
                select(AlertRow)
                .where(AlertRow.session_id == self.session_id, AlertRow.channel.in_(channels), due)
                .order_by(AlertRow.id)
                .limit(limit)
            ).all()
            return [
                Pending(
                    r.id,
                    r.channel,
                    Alert.from_json(json.loads(r.payload)),
                    r.count,
                    r.parts_sent,
                    r.attempts,
                )
                for r in rows
            ]

    def _update(self, row_id: int, *conditions: ColumnElement[bool], **values: object) -> int:
        with Session(self.engine) as db, db.begin():
            result = db.execute(
                update(AlertRow).where(AlertRow.id == row_id, *conditions).values(**values)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def part_sent(self, row_id: int, parts_sent: int) -> None:
        """Record that the first ``parts_sent`` parts of a row were delivered."""
        self._update(row_id, parts_sent=parts_sent)

    def sent(self, row_id: int, count: int, *, now: float) -> bool:
        """Mark a row sent if its count is still ``count``; else keep the newer occurrences.

        Returns whether the row is done. When errors were coalesced into it while it
        was being sent, it stays pending with the occurrences not yet reported.
        """
        if self._update(row_id, AlertRow.count == count, status=SENT, sent_ts=now):
            return True
        self._update(row_id, count=AlertRow.count - count, parts_sent=0, status=PENDING)
        return False

    def failed(self, row_id: int, error: str) -> None:
        """Mark a row refused for good, keeping the reason."""
        self._update(row_id, status=FAILED, last_error=error[:2000])

    def attempt_failed(self, row_id: int, error: str) -> None:
        """Count a failed delivery attempt; the row stays deliverable."""
        self._update(row_id, attempts=AlertRow.attempts + 1, last_error=error[:2000])

    def release_held(self) -> int:
        """Make every held row deliverable now (a fatal stop reports them at once)."""
        with Session(self.engine) as db, db.begin():
            result = db.execute(
                update(AlertRow)
                .where(AlertRow.session_id == self.session_id, AlertRow.status == HELD)
                .values(status=PENDING)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def unsent(self, channels: Sequence[str] | None = None) -> int:
        """Return how many rows of this session are pending or held."""
        query = select(AlertRow.id).where(
            AlertRow.session_id == self.session_id, AlertRow.status.in_((PENDING, HELD))
        )
        if channels is not None:
            query = query.where(AlertRow.channel.in_(channels))
        with Session(self.engine) as db:
            return len(db.scalars(query).all())

    def rows(self) -> list[AlertRow]:
        """Return every row of this session, oldest first (for tests and inspection)."""
        with Session(self.engine, expire_on_commit=False) as db:
            return list(
                db.scalars(
                    select(AlertRow)
                    .where(AlertRow.session_id == self.session_id)
                    .order_by(AlertRow.id)
                ).all()
            )
