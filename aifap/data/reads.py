"""Low-level bar reads through the ``(series_id, ts)`` primary key, returned as bar frames.

The hot paths run on the raw DB-API cursor (one statement, rows straight into one
numpy array): "last 100 bars of 20 symbols" is one statement on either backend and
never a window function, which would scan every row
(``../shared/notes/ecosystem.md`` §9).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from aifap.core.bars import BAR_COLUMNS, empty_bars

_SELECT = "SELECT ts, open, high, low, close, volume FROM ohlcv_bars"


def _cursor(conn: Connection) -> tuple[Any, str]:
    """Return a raw cursor and the driver's placeholder (``?`` or ``%s``)."""
    raw: Any = conn.connection.dbapi_connection
    return raw.cursor(), ("%s" if conn.dialect.name == "postgresql" else "?")


def frame_from_rows(rows: list[tuple[Any, ...]] | np.ndarray) -> pd.DataFrame:
    """Build a bar frame from ``(ts_ms, open, high, low, close, volume)`` rows, oldest first."""
    if len(rows) == 0:
        return empty_bars()
    data = np.asarray(rows, dtype=np.float64)
    return frame_from_arrays(data[:, 0].astype(np.int64), data[:, 1:])


def frame_from_arrays(ts: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Build a bar frame from int64 ms open times and an (n, 5) float64 array."""
    if len(ts) == 0:
        return empty_bars()
    index = pd.DatetimeIndex(
        np.asarray(ts, dtype=np.int64) * 1_000_000, dtype="datetime64[ns, UTC]", name="timestamp"
    )
    block = np.ascontiguousarray(values, dtype=np.float64)
    return pd.DataFrame(block, index=index, columns=list(BAR_COLUMNS), copy=False)


def read_frame(
    conn: Connection,
    series_id: int,
    start_ms: int | None,
    last_open_ms: int | None,
    limit: int | None,
    *,
    before: int | None = None,
    one_more: bool = False,
) -> pd.DataFrame:
    """Read bars with ``start <= ts <= last_open`` (and ``ts < before``), oldest first.

    With ``limit`` the newest ``limit`` such bars; with ``one_more`` also the first bar
    at or after ``before`` (so a resampler can tell the last period is complete).
    """
    cursor, mark = _cursor(conn)
    where = [f"series_id = {mark}"]
    params: list[Any] = [series_id]
    if start_ms is not None:
        where.append(f"ts >= {mark}")
        params.append(start_ms)
    if last_open_ms is not None:
        where.append(f"ts <= {mark}")
        params.append(last_open_ms)
    if before is not None:
        where.append(f"ts < {mark}")
        params.append(before)
    sql = f"{_SELECT} WHERE {' AND '.join(where)}"
    try:
        if limit is not None:
            cursor.execute(f"{sql} ORDER BY ts DESC LIMIT {int(limit)}", params)
            rows = cursor.fetchall()[::-1]
        else:
            cursor.execute(f"{sql} ORDER BY ts", params)
            rows = cursor.fetchall()
        if one_more and before is not None:
            cursor.execute(
                f"{_SELECT} WHERE series_id = {mark} AND ts >= {mark} ORDER BY ts LIMIT 1",
                [series_id, before],
            )
            rows = [*rows, *cursor.fetchall()]
    finally:
        cursor.close()
    return frame_from_rows(rows)


def read_last(
    conn: Connection, series_ids: list[int], last_open_ms: int | None, limit: int
) -> dict[int, pd.DataFrame]:
    """Read the newest ``limit`` bars (``ts <= last_open``) of each series in one statement."""
    if not series_ids:
        return {}
    cursor, _ = _cursor(conn)
    bound = "" if last_open_ms is None else f" AND ts <= {int(last_open_ms)}"
    limit = int(limit)
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(
                "SELECT s.id, b.ts, b.open, b.high, b.low, b.close, b.volume "  # noqa: S608 - constants and ints only
                "FROM unnest(%s::int[]) AS s(id) CROSS JOIN LATERAL ("
                f"{_SELECT} WHERE series_id = s.id{bound} ORDER BY ts DESC LIMIT {limit}) AS b",
                [list(series_ids)],
            )
        else:
            parts = [
                f"SELECT * FROM (SELECT series_id, ts, open, high, low, close, volume "  # noqa: S608 - constants and ints only
                f"FROM ohlcv_bars WHERE series_id = {int(sid)}{bound} "
                f"ORDER BY ts DESC LIMIT {limit})"
                for sid in series_ids
            ]
            cursor.execute(" UNION ALL ".join(parts))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    out: dict[int, pd.DataFrame] = {}
    if rows:
        data = np.asarray(rows, dtype=np.float64)
        ids = data[:, 0].astype(np.int64)
        # rows come newest first within each series; sort each block oldest first
        order = np.lexsort((data[:, 1], ids))
        data, ids = data[order], ids[order]
        # one frame for all, sliced per series: building 20 frames costs 10x more
        whole = frame_from_arrays(data[:, 1].astype(np.int64), data[:, 2:])
        bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
        for first, stop in itertools.pairwise(bounds):
            out[int(ids[first])] = whole.iloc[first:stop]
    empty = None
    for sid in series_ids:
        if sid not in out:
            empty = empty_bars() if empty is None else empty
            out[sid] = empty.copy()
    return out


def span(conn: Connection, series_id: int) -> tuple[int | None, int | None]:
    """Return the first and last stored open time of a series (None, None when empty)."""
    cursor, mark = _cursor(conn)
    try:
        cursor.execute(
            f"SELECT (SELECT min(ts) FROM ohlcv_bars WHERE series_id = {mark}), "  # noqa: S608 - constants and ints only
            f"(SELECT max(ts) FROM ohlcv_bars WHERE series_id = {mark})",
            [series_id, series_id],
        )
        first, last = cursor.fetchone()
    finally:
        cursor.close()
    return (None if first is None else int(first), None if last is None else int(last))


def fingerprint(conn: Connection) -> tuple[int, str]:
    """Return the bar count and a SHA-256 over every stored bar (for idempotence checks)."""
    import hashlib

    cursor, _ = _cursor(conn)
    digest = hashlib.sha256()
    count = 0
    try:
        cursor.execute(
            "SELECT s.exchange, s.market, s.symbol, s.timeframe, b.ts, b.open, b.high, b.low, "
            "b.close, b.volume FROM ohlcv_bars b JOIN ohlcv_series s ON s.id = b.series_id "
            "ORDER BY s.exchange, s.market, s.symbol, s.timeframe, b.ts"
        )
        while rows := cursor.fetchmany(50_000):
            count += len(rows)
            digest.update(repr(rows).encode())
    finally:
        cursor.close()
    return count, digest.hexdigest()
