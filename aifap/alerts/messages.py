"""Alert messages in the seed's formats: titles, key/value blocks, tables, colours.

An ``Alert`` is plain data (it is stored as JSON in the outbox); ``aifap.alerts.render``
turns it into Discord messages, splitting long ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aifap.alerts.events import Markets, PositionChanges, position_rows, update_rows
from aifap.alerts.formatting import format_time, render_table
from aifap.core.timeframes import format_duration

SHORT_ERROR_MESSAGE = "An issue occurred. Admin has been notified."
COUNT = "{count}"


class AlertKind(StrEnum):
    """Every kind of alert; the value is stored in the outbox."""

    SYSTEM_STARTED = "system_started"
    POSITIONS_OPENED = "positions_opened"
    POSITIONS_ADDED = "positions_added"
    POSITIONS_UPDATED = "positions_updated"
    POSITIONS_CLOSED = "positions_closed"
    ERROR = "error"
    ERROR_DETAIL = "error_detail"
    REPORT = "report"


COLORS: dict[AlertKind, int] = {
    AlertKind.SYSTEM_STARTED: 0x5865F2,
    AlertKind.POSITIONS_OPENED: 0x57F287,
    AlertKind.POSITIONS_ADDED: 0x57F287,
    AlertKind.POSITIONS_UPDATED: 0xFEE75C,
    AlertKind.POSITIONS_CLOSED: 0xED4245,
    AlertKind.ERROR: 0xA12D2F,
    AlertKind.ERROR_DETAIL: 0xA12D2F,
    AlertKind.REPORT: 0x26A69A,
}

LEVEL_TITLES: dict[str, str] = {
    "partial": "Partial Failure",
    "error": "Partial Failure",
    "warning": "Partial Failure",
    "critical": "Critical Failure",
}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: a title, then key/value lines and/or a table in a code block.

    ``title`` may hold ``{count}``, replaced by ``count`` (how many identical errors
    were coalesced into this alert). ``items`` are the closed symbols of a Closed
    alert, listed in its title. ``coalesce_key`` groups identical errors.
    ``attachments`` are paths of files sent with the alert's last part (a report).
    """

    kind: AlertKind
    title: str
    lines: tuple[str, ...] = ()
    table: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    count: int = 1
    coalesce_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    attachments: tuple[str, ...] = ()

    @property
    def color(self) -> int:
        """Return the embed colour of this kind."""
        return COLORS[self.kind]

    @property
    def rendered_title(self) -> str:
        """Return the title with the coalesced count filled in."""
        return self.title.replace(COUNT, str(self.count))

    def text(self) -> str:
        """Return the whole alert as one plain-text message (the table fenced)."""
        parts = [self.rendered_title, *self.lines]
        if self.table:
            parts += ["```", *self.table, "```"]
        return "\n".join(parts)

    def with_count(self, count: int) -> Alert:
        """Return a copy carrying ``count``."""
        return replace(self, count=count)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (stored in the outbox)."""
        data = asdict(self)
        data["kind"] = self.kind.value
        for key in ("lines", "table", "items", "attachments"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """Rebuild an alert from ``to_json`` output."""
        return cls(
            kind=AlertKind(data["kind"]),
            title=str(data["title"]),
            lines=tuple(data.get("lines", ())),
            table=tuple(data.get("table", ())),
            items=tuple(data.get("items", ())),
            count=int(data.get("count", 1)),
            coalesce_key=data.get("coalesce_key"),
            extra=dict(data.get("extra", {})),
            attachments=tuple(data.get("attachments", ())),
        )


def system_started(
    *,
    system_label: str,
    time: datetime,
    user: str,
    strategy: str,
    environment: str,
    duration: timedelta,
    timezone: str = "UTC",
) -> Alert:
    """Return the ``🚀 [Futures] System Started`` alert with its key/value block."""
    return Alert(
        kind=AlertKind.SYSTEM_STARTED,
        title=f"🚀 [{system_label}] System Started",
        lines=(
            f"Time: {format_time(time, timezone)}",
            f"User: {user}",
            f"Strategy: {strategy}",
            f"Environment: {environment}",
            f"Trading Duration: {format_duration(duration)}",
        ),
    )


def position_alerts(
    changes: PositionChanges, *, trader_label: str, markets: Markets | None = None
) -> list[Alert]:
    """Return the alerts of ``changes``: closed first, then opened/added, then updated."""
    alerts: list[Alert] = []
    if changes.closed:
        symbols = tuple(p.symbol for p in changes.closed)
        alerts.append(closed_alert(symbols, trader_label=trader_label))
    if changes.opened:
        kind = AlertKind.POSITIONS_OPENED if changes.first else AlertKind.POSITIONS_ADDED
        title = "New Positions Opened" if changes.first else "Position Added"
        table = render_table(position_rows(changes.opened, markets))
        alerts.append(Alert(kind=kind, title=f"🟢 [{trader_label}] {title}", table=table.lines))
    if changes.updated:
        table = render_table(update_rows(changes.updated, markets))
        alerts.append(
            Alert(
                kind=AlertKind.POSITIONS_UPDATED,
                title=f"📝 [{trader_label}] Position Updated",
                table=table.lines,
            )
        )
    return alerts


def closed_prefix(trader_label: str) -> str:
    """Return the title of a Closed alert before its symbol list."""
    return f"🔴 [{trader_label}] Position Closed: "


def closed_alert(symbols: Sequence[str], *, trader_label: str) -> Alert:
    """Return ``🔴 [Trader A] Position Closed: DOGEUSDT, BNBUSDT``."""
    return Alert(
        kind=AlertKind.POSITIONS_CLOSED,
        title=closed_prefix(trader_label) + ", ".join(symbols),
        items=tuple(symbols),
        extra={"prefix": closed_prefix(trader_label)},
    )


def level_title(level: str) -> str:
    """Return the failure wording of an alert level (``Partial Failure``)."""
    return LEVEL_TITLES.get(level.lower(), "Partial Failure")


def error_alert(
    *,
    system_label: str,
    module: str,
    time: datetime,
    level: str = "partial",
    timezone: str = "UTC",
    coalesce_key: str | None = None,
    message: str = SHORT_ERROR_MESSAGE,
) -> Alert:
    """Return the public error alert: module, time and the short message only.

    ``message`` replaces the seed's short message when the cause is one a trader can
    fix (a session that stopped names its id, account, cause and what to check).
    """
    return Alert(
        kind=AlertKind.ERROR,
        title=f"🚨 [{system_label}] {module} {level_title(level)} ({COUNT})",
        lines=(
            f"Time: {format_time(time, timezone)}",
            f"Module: {module}",
            message,
        ),
        coalesce_key=coalesce_key,
    )


def error_detail_alert(
    *,
    system_label: str,
    module: str,
    time: datetime,
    detail: str,
    user: str | None = None,
    level: str = "partial",
    timezone: str = "UTC",
    coalesce_key: str | None = None,
    session: str | None = None,
) -> Alert:
    """Return the admin's error alert: the public lines plus the full (redacted) detail.

    ``session`` names the session that erred (one admin channel serves many).
    """
    lines = [f"Time: {format_time(time, timezone)}", f"Module: {module}", f"Level: {level}"]
    if user:
        lines.append(f"User: {user}")
    if session:
        lines.append(f"Session: {session}")
    return Alert(
        kind=AlertKind.ERROR_DETAIL,
        title=f"🚨 [{system_label}] {module} {level_title(level)} ({COUNT}) [admin]",
        lines=tuple(lines),
        table=tuple(detail.splitlines() or [""]),
        coalesce_key=coalesce_key,
    )


def report_alert(
    *,
    system_label: str,
    session: str,
    time: datetime,
    lines: Sequence[str],
    path: str,
    timezone: str = "UTC",
) -> Alert:
    """Return ``📊 [Futures] Performance Report``: the summary lines and the report file."""
    return Alert(
        kind=AlertKind.REPORT,
        title=f"📊 [{system_label}] Performance Report: {session}",
        lines=(f"Time: {format_time(time, timezone)}", *lines),
        attachments=(path,),
    )
