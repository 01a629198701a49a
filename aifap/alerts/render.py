"""Split alerts into Discord-sized parts and build the payloads senders post.

Discord refuses a message over 2,000 characters and an embed title over 256, so a
long alert becomes several parts, never a truncated one: tables split at row
boundaries, each part reopening the code block and repeating the table header;
key/value lines split at line boundaries; a Closed alert's symbol list splits
between symbols. Parts after the first carry `` (i/n)`` in their title. A single
line longer than a whole part (only possible in error detail) is cut into pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aifap.alerts.messages import Alert, AlertKind

MESSAGE_LIMIT = 2000
TITLE_LIMIT = 256
FENCE = "```"
# room kept in every title for " (99/99)"
PART_SUFFIX_RESERVE = 8


@dataclass(frozen=True, slots=True)
class Part:
    """One deliverable message: a title and a body (lines, then a fenced table)."""

    title: str
    body: str = ""

    @property
    def text(self) -> str:
        """Return the part as plain text: title, newline, body."""
        return f"{self.title}\n{self.body}" if self.body else self.title


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _body(lines: Sequence[str], header: str | None, rows: Sequence[str]) -> str:
    out = list(lines)
    if rows or header is not None:
        out += [FENCE, *([header] if header is not None else []), *rows, FENCE]
    return "\n".join(out)


def _closed_parts(alert: Alert, limit: int) -> list[Part]:
    prefix = alert.extra.get("prefix", alert.title.split(": ", 1)[0] + ": ")
    budget = limit - len(prefix) - PART_SUFFIX_RESERVE
    groups: list[list[str]] = [[]]
    for symbol in alert.items:
        candidate = ", ".join([*groups[-1], symbol])
        if groups[-1] and len(candidate) > budget:
            groups.append([])
        groups[-1].append(symbol)
    return [Part(prefix + ", ".join(group)) for group in groups]


def split_alert(
    alert: Alert, *, limit: int = MESSAGE_LIMIT, title_limit: int = TITLE_LIMIT
) -> list[Part]:
    """Return ``alert`` as one or more parts, each within ``limit`` characters."""
    if alert.kind is AlertKind.POSITIONS_CLOSED and alert.items:
        parts = _closed_parts(alert, min(limit, title_limit))
        return _numbered(parts)
    title = alert.rendered_title
    repeat_header = alert.kind is not AlertKind.ERROR_DETAIL and len(alert.table) > 0
    header = alert.table[0] if repeat_header else None
    rows = list(alert.table[1:] if repeat_header else alert.table)
    budget = limit - len(title) - PART_SUFFIX_RESERVE - 1
    fence_cost = 2 * (len(FENCE) + 1) + (len(header) + 1 if header is not None else 0)
    if budget - fence_cost < 16:
        raise ValueError(f"message limit must leave room for a table row, was {limit}")
    units: list[tuple[str, str]] = []
    for line in alert.lines:
        units += [("line", piece) for piece in _chunks(line, budget - 1)]
    for row in rows:
        units += [("row", piece) for piece in _chunks(row, budget - fence_cost - 1)]
    groups: list[tuple[list[str], list[str]]] = [([], [])]
    for kind, text in units:
        lines, table = groups[-1]
        trial_lines = [*lines, text] if kind == "line" else lines
        trial_rows = [*table, text] if kind == "row" else table
        size = len(_body(trial_lines, header if trial_rows else None, trial_rows))
        if (lines or table) and size > budget:
            groups.append(([], []))
            lines, table = groups[-1]
        (lines if kind == "line" else table).append(text)
    parts = [Part(title, _body(lines, header if table else None, table)) for lines, table in groups]
    return _numbered(parts)


def _numbered(parts: list[Part]) -> list[Part]:
    if len(parts) == 1:
        return parts
    total = len(parts)
    return [Part(f"{p.title} ({i}/{total})", p.body) for i, p in enumerate(parts, start=1)]


def discord_payload(alert: Alert, part: Part, *, style: str = "embed") -> dict[str, Any]:
    """Return the webhook JSON of one part: an embed in the kind's colour, or plain content."""
    if style == "content":
        return {"content": part.text, "allowed_mentions": {"parse": []}}
    embed: dict[str, Any] = {"title": part.title, "color": alert.color}
    if part.body:
        embed["description"] = part.body
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}


def json_payload(
    alert: Alert, part: Part, *, index: int, total: int, session_id: str
) -> dict[str, Any]:
    """Return the generic JSON webhook body of one part."""
    return {
        "session_id": session_id,
        "kind": alert.kind.value,
        "title": part.title,
        "text": part.text,
        "color": f"#{alert.color:06X}",
        "count": alert.count,
        "part": index + 1,
        "parts": total,
        "attachments": list(alert.attachments) if index == total - 1 else [],
    }
