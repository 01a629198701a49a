"""Find missing bars: holes between stored bars, minus ranges the exchange confirmed empty.

A gap is a run of missing open times between two stored bars of one series
(``ADABTC_5m`` has one of 33 bars). The edges are not gaps: before the first bar
nothing was asked for, after the last the collector resumes. Ranges recorded in
``ohlcv_empty_ranges`` (the exchange answered, and had no bars) are reported apart
as *confirmed empty* once two collector runs found them empty, and the collector
does not ask for them again.

The holes are found by the database (``LEAD`` over one series' primary-key range),
so only the gaps travel to Python.

Example::

    for report in gap_reports(url, exchange="binance"):
        print(report.key, report.missing, report.largest)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from aifap.core.timeframes import timeframe_ms
from aifap.data.series import SeriesKey, ensure_schema, list_series

CONFIRM_AFTER = 2  # runs that must find a range empty before it is confirmed


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars opening in ``[start, end)`` (UTC ms); ``confirmed_empty`` if recorded so."""

    start: int
    end: int
    bars: int
    confirmed_empty: bool = False


@dataclass(frozen=True, slots=True)
class GapReport:
    """The stored span of one series and its gaps."""

    key: SeriesKey
    first: int | None
    last: int | None
    stored: int
    gaps: tuple[Gap, ...] = field(default=())

    @property
    def missing(self) -> int:
        """Bars missing between the first and last stored bar, not confirmed empty."""
        return sum(g.bars for g in self.gaps if not g.confirmed_empty)

    @property
    def confirmed_empty(self) -> int:
        """Bars the exchange confirmed do not exist."""
        return sum(g.bars for g in self.gaps if g.confirmed_empty)

    @property
    def largest(self) -> int:
        """The longest run of missing bars (0 when none)."""
        return max((g.bars for g in self.gaps if not g.confirmed_empty), default=0)


def _holes(
    conn: Connection, series_id: int, step: int, start: int | None, end: int | None
) -> list[tuple[int, int]]:
    bounds = ""
    params: dict[str, int] = {"sid": series_id, "step": step}
    if start is not None:
        bounds += " AND ts >= :start"
        params["start"] = start
    if end is not None:
        bounds += " AND ts < :end"
        params["end"] = end
    rows = conn.execute(
        text(
            "SELECT ts, next_ts FROM (SELECT ts, LEAD(ts) OVER (ORDER BY ts) AS next_ts "  # noqa: S608 - constants and ints only
            f"FROM ohlcv_bars WHERE series_id = :sid{bounds}) AS t "
            "WHERE next_ts - ts > :step ORDER BY ts"
        ),
        params,
    ).all()
    return [(int(a) + step, int(b)) for a, b in rows]


def empty_ranges(conn: Connection, series_id: int) -> list[tuple[int, int]]:
    """Return the confirmed-empty ranges ``[start, end)`` of a series, sorted and merged."""
    rows = conn.execute(
        text(
            "SELECT start_ts, end_ts FROM ohlcv_empty_ranges WHERE series_id = :sid "
            "AND attempts >= :confirm ORDER BY start_ts"
        ),
        {"sid": series_id, "confirm": CONFIRM_AFTER},
    ).all()
    merged: list[tuple[int, int]] = []
    for a, b in rows:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], int(b)))
        else:
            merged.append((int(a), int(b)))
    return merged


def split_confirmed(start: int, end: int, step: int, empty: Sequence[tuple[int, int]]) -> list[Gap]:
    """Split the hole ``[start, end)`` into parts confirmed empty and parts still missing."""
    parts: list[Gap] = []
    cursor = start
    for a, b in empty:
        if b <= cursor or a >= end:
            continue
        a, b = max(a, cursor), min(b, end)
        if a > cursor:
            parts.append(Gap(cursor, a, (a - cursor) // step))
        parts.append(Gap(a, b, (b - a) // step, confirmed_empty=True))
        cursor = b
    if cursor < end:
        parts.append(Gap(cursor, end, (end - cursor) // step))
    return [p for p in parts if p.bars > 0]


def series_gaps(
    conn: Connection,
    series_id: int,
    timeframe: str,
    *,
    start: int | None = None,
    end: int | None = None,
) -> list[Gap]:
    """Return the gaps of one series between its stored bars, oldest first."""
    step = timeframe_ms(timeframe)
    empty = empty_ranges(conn, series_id)
    gaps: list[Gap] = []
    for a, b in _holes(conn, series_id, step, start, end):
        gaps.extend(split_confirmed(a, b, step, empty))
    return gaps


def record_empty(conn: Connection, series_id: int, start: int, end: int) -> None:
    """Record one more run that found no bars opening in ``[start, end)``."""
    conn.execute(
        text(
            "INSERT INTO ohlcv_empty_ranges (series_id, start_ts, end_ts, attempts, recorded_at) "
            "VALUES (:sid, :a, :b, 1, :now) ON CONFLICT (series_id, start_ts) DO UPDATE "
            "SET end_ts = excluded.end_ts, recorded_at = excluded.recorded_at, "
            "attempts = ohlcv_empty_ranges.attempts + 1"
        ),
        {"sid": series_id, "a": start, "b": end, "now": time.time_ns() // 1_000_000},
    )


def forget_empty(
    conn: Connection, series_id: int, start: int, end: int, keep: Sequence[int] = ()
) -> None:
    """Drop unconfirmed empty records starting in ``[start, end)`` except at ``keep``.

    Called after a range was asked for again: records of parts that got bars since
    (or whose run now starts elsewhere) go.
    """
    rows = conn.execute(
        text(
            "SELECT start_ts FROM ohlcv_empty_ranges WHERE series_id = :sid AND start_ts >= :a "
            "AND start_ts < :b AND attempts < :confirm"
        ),
        {"sid": series_id, "a": start, "b": end, "confirm": CONFIRM_AFTER},
    ).scalars()
    stale = [int(s) for s in rows if int(s) not in set(keep)]
    for first in stale:
        conn.execute(
            text("DELETE FROM ohlcv_empty_ranges WHERE series_id = :sid AND start_ts = :a"),
            {"sid": series_id, "a": first},
        )


def gap_reports(
    url: str,
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbols: Sequence[str] | None = None,
    timeframe: str | None = None,
) -> list[GapReport]:
    """Return a gap report for every stored series matching the filters."""
    engine = ensure_schema(url)
    reports: list[GapReport] = []
    with engine.connect() as conn:
        for sid, key in list_series(conn, exchange=exchange, market=market):
            if symbols is not None and key.symbol not in symbols:
                continue
            if timeframe is not None and key.timeframe != timeframe:
                continue
            first, last, stored = conn.execute(
                text("SELECT min(ts), max(ts), count(*) FROM ohlcv_bars WHERE series_id = :sid"),
                {"sid": sid},
            ).one()
            gaps = series_gaps(conn, sid, key.timeframe)
            reports.append(GapReport(key, first, last, int(stored), tuple(gaps)))
    return reports
