"""Bulk writers: PostgreSQL ``COPY`` and upsert, SQLite batched ``executemany``.

Every writer works inside the caller's transaction (a SQLAlchemy ``Connection``)
so a file or a page of bars is written whole or not at all. Re-writing rows that
are already stored changes nothing: not the row count, not a value, not a tuple
(PostgreSQL's ``ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` skips equal
rows, so a re-ingest leaves no dead tuples behind).

PostgreSQL: when no stored bar of the series lies in the incoming time range, the
rows go straight into ``ohlcv_bars`` with a binary ``COPY`` built by numpy (no
per-row Python); otherwise they are copied into a session-private temporary table
(temporary tables are never WAL-logged, like UNLOGGED ones) and merged with
``INSERT … SELECT … ON CONFLICT``. SQLite: one ``executemany`` of an upsert on the
raw ``sqlite3`` connection.

Example::

    with make_engine(url).begin() as conn:
        write_bars(conn, SeriesKey("bitget", "futures", "BTCUSDT", "1m"), frame)
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from aifap.core.bars import BAR_COLUMNS
from aifap.data.models import FundingRate
from aifap.data.series import SeriesKey, _insert, get_series_id

log = logging.getLogger(__name__)

COPY_CHUNK = 1_000_000  # rows per COPY buffer (~82 MB)
SQLITE_CHUNK = 100_000  # rows per executemany call
UNIQUE_VIOLATION = "23505"

_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_TRAILER = struct.pack(">h", -1)
_PG_ROW = np.dtype(
    [("fields", ">i2"), ("len_id", ">i4"), ("series_id", ">i4"), ("len_ts", ">i4"), ("ts", ">i8")]
    + [item for name in BAR_COLUMNS for item in ((f"len_{name}", ">i4"), (name, ">f8"))]
)
_COLUMNS = "series_id, ts, open, high, low, close, volume"
_CHANGED = " OR ".join(f"b.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in BAR_COLUMNS)
_PG_MERGE = (
    f"INSERT INTO ohlcv_bars AS b ({_COLUMNS}) SELECT {_COLUMNS} FROM _ohlcv_stage "  # noqa: S608 - constants and ints only
    f"ON CONFLICT (series_id, ts) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in BAR_COLUMNS)
    + f" WHERE {_CHANGED}"
)
_SQLITE_UPSERT = (
    f"INSERT INTO ohlcv_bars ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - constants and ints only
    "ON CONFLICT (series_id, ts) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in BAR_COLUMNS)
    + " WHERE "
    + " OR ".join(f"ohlcv_bars.{c} IS NOT excluded.{c}" for c in BAR_COLUMNS)
)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: rows offered (after de-duplication), rows new or changed, the path."""

    rows: int
    written: int
    method: str


def frame_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ts, values)`` of a bar frame: int64 UTC ms and an (n, 5) float64 array."""
    if len(frame) == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64)
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    ts = np.asarray(index.as_unit("ms").asi8, dtype=np.int64)
    values = frame.loc[:, list(BAR_COLUMNS)].to_numpy(dtype=np.float64)
    return ts, values


def _dedupe(ts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time and keep the last row of each repeated time (a re-sent page wins)."""
    if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):
        return ts, values
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], values[order]
    last = np.ones(len(ts), dtype=bool)
    last[:-1] = ts[1:] != ts[:-1]
    return ts[last], values[last]


def write_bars(conn: Connection, key: SeriesKey, frame: pd.DataFrame) -> WriteResult:
    """Upsert a bar frame into ``key``'s series inside ``conn``'s transaction."""
    ts, values = frame_arrays(frame)
    return write_bar_arrays(conn, get_series_id(conn, key), ts, values)


def write_bar_arrays(
    conn: Connection, series_id: int, ts: np.ndarray, values: np.ndarray
) -> WriteResult:
    """Upsert bars given as int64 ms open times and an (n, 5) float64 OHLCV array."""
    ts, values = _dedupe(np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64))
    if len(ts) == 0:
        return WriteResult(0, 0, "none")
    if conn.dialect.name == "postgresql":
        return _write_postgres(conn, series_id, ts, values)
    return _write_sqlite(conn, series_id, ts, values)


def pg_copy_buffer(series_id: int, ts: np.ndarray, values: np.ndarray) -> bytes:
    """Return the PostgreSQL binary ``COPY`` stream of ``ohlcv_bars`` rows, built by numpy."""
    rows = np.empty(len(ts), dtype=_PG_ROW)
    rows["fields"] = 7
    rows["len_id"] = 4
    rows["series_id"] = series_id
    rows["len_ts"] = 8
    rows["ts"] = ts
    for i, name in enumerate(BAR_COLUMNS):
        rows[f"len_{name}"] = 8
        rows[name] = values[:, i]
    return _PG_HEADER + rows.tobytes() + _PG_TRAILER


def _copy(conn: Connection, table: str, series_id: int, ts: np.ndarray, values: np.ndarray) -> None:
    raw: Any = conn.connection.dbapi_connection
    sql = f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT binary)"
    for first in range(0, len(ts), COPY_CHUNK):
        part = slice(first, first + COPY_CHUNK)
        buffer = pg_copy_buffer(series_id, ts[part], values[part])
        with raw.cursor() as cursor:
            if conn.dialect.driver == "psycopg2":
                cursor.copy_expert(sql, io.BytesIO(buffer))
            else:
                with cursor.copy(sql) as copy:
                    copy.write(buffer)


def _range_is_empty(conn: Connection, series_id: int, first: int, last: int) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM ohlcv_bars WHERE series_id = :s AND ts BETWEEN :a AND :b LIMIT 1"),
        {"s": series_id, "a": first, "b": last},
    ).first()
    return found is None


def _write_postgres(
    conn: Connection, series_id: int, ts: np.ndarray, values: np.ndarray
) -> WriteResult:
    if _range_is_empty(conn, series_id, int(ts[0]), int(ts[-1])):
        try:
            with conn.begin_nested():
                _copy(conn, "ohlcv_bars", series_id, ts, values)
            return WriteResult(len(ts), len(ts), "copy")
        except Exception as exc:  # a concurrent writer filled the range: merge instead
            state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
            if state != UNIQUE_VIOLATION:
                raise
            log.info("series %d: range filled concurrently, merging instead", series_id)
    conn.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS _ohlcv_stage "
            "(LIKE ohlcv_bars INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    conn.execute(text("TRUNCATE _ohlcv_stage"))
    _copy(conn, "_ohlcv_stage", series_id, ts, values)
    written = conn.execute(text(_PG_MERGE)).rowcount
    return WriteResult(len(ts), int(written), "copy+upsert")


def _write_sqlite(
    conn: Connection, series_id: int, ts: np.ndarray, values: np.ndarray
) -> WriteResult:
    raw: Any = conn.connection.dbapi_connection
    before = raw.total_changes
    for first in range(0, len(ts), SQLITE_CHUNK):
        part = slice(first, first + SQLITE_CHUNK)
        columns = [ts[part].tolist(), *(values[part, i].tolist() for i in range(5))]
        raw.executemany(_SQLITE_UPSERT, zip(repeat(series_id), *columns))
    return WriteResult(len(ts), raw.total_changes - before, "executemany")


def write_funding(
    conn: Connection, exchange: str, market: str, symbol: str, rates: pd.Series
) -> int:
    """Upsert funding rates (a float Series indexed by UTC settle time); return rows offered."""
    if len(rates) == 0:
        return 0
    index = pd.DatetimeIndex(rates.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    stamps = index.as_unit("ms").asi8.tolist()
    unique = dict(zip(stamps, np.asarray(rates, dtype=np.float64).tolist(), strict=True))
    rows = [
        {"exchange": exchange, "market": market, "symbol": symbol, "ts": t, "rate": r}
        for t, r in unique.items()
    ]
    table = FundingRate.__table__
    statement = _insert(conn)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["exchange", "market", "symbol", "ts"],
        set_={"rate": statement.excluded.rate},
    )
    conn.execute(statement, rows)
    return len(rows)
