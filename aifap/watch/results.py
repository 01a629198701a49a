"""Read a session's results (the RqueryAPI's store): sessions, snapshots, positions, orders,
fills and alerts, filtered by time and paged by cursor.

Rows come back as plain dicts with the documented field names of
:mod:`aifap.watch.schemas`. Pages are ordered by a unique key (time, then a tie-break
column); a cursor is that key of the last row returned, encoded URL-safe, so a page
after a cursor starts strictly after it: no row is lost or repeated while rows are
appended, whatever the page size. Times are UTC; ``start <= time < end``.

The session tables (``live_*``) are written by the live runner; they are declared
here as light table clauses so that ``watch`` never imports ``live``.
"""  # noqa: D205

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Double,
    Engine,
    Integer,
    Select,
    String,
    TableClause,
    Text,
    and_,
    cast,
    column,
    func,
    or_,
    select,
    table,
    union,
)

from aifap.db import Amount
from aifap.watch.models import WatchPosition, WatchSnapshot

MAX_LIMIT = 5000
DEFAULT_LIMIT = 500
DAY_MS = 86_400_000

sessions_t = table(
    "live_sessions",
    column("session_id", String),
    column("trader", String),
    column("strategy", String),
    column("status", String),
    column("exit_code", Integer),
    column("reason", Text),
    column("started_ms", BigInteger),
    column("stopped_ms", BigInteger),
    column("clock_ms", BigInteger),
    column("initial_equity", Amount),
    column("runs", Integer),
    column("config_json", Text),
)
orders_t = table(
    "live_orders",
    column("client_id", String),
    column("session_id", String),
    column("cycle", Integer),
    column("seq", Integer),
    column("batch", Integer),
    column("symbol", String),
    column("side", String),
    column("amount", Amount),
    column("reduce_only", Boolean),
    column("leg", String),
    column("take_profit", Amount),
    column("stop_loss", Amount),
    column("status", String),
    column("exchange_id", String),
    column("filled", Amount),
    column("average_price", Amount),
    column("reason", Text),
    column("updated_ms", BigInteger),
)
cycles_t = table(
    "live_cycles",
    column("session_id", String),
    column("cycle", Integer),
    column("started_ms", BigInteger),
)
fills_t = table(
    "live_fills",
    column("id", Integer),
    column("session_id", String),
    column("client_id", String),
    column("order_id", String),
    column("symbol", String),
    column("side", String),
    column("amount", Amount),
    column("price", Amount),
    column("fee", Amount),
    column("fee_currency", String),
    column("reason", String),
    column("realized_pnl", Amount),
    column("ts_ms", BigInteger),
    column("ours", Boolean),
)
events_t = table(
    "live_events",
    column("id", Integer),
    column("session_id", String),
    column("cycle", Integer),
    column("ts_ms", BigInteger),
    column("level", String),
    column("kind", String),
    column("message", Text),
)


class QueryError(ValueError):
    """A query parameter broke a rule (bad cursor, limit or time range)."""


class SessionNotFound(LookupError):
    """No session has this id in the results database."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the cursor of the next page (None: this was the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``start <= time < end`` in epoch milliseconds; either end may be open."""

    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None) -> TimeRange:
        """Build a range from datetimes (naive ones are UTC); raise QueryError if empty."""
        begin, finish = _ms(start), _ms(end)
        if begin is not None and finish is not None and finish <= begin:
            raise QueryError(f"end must be after start, was start={start} end={end}")
        return cls(begin, finish)

    def where(self, time_column: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """Return the conditions of this range on ``time_column`` (epoch ms)."""
        out: list[ColumnElement[bool]] = []
        if self.start_ms is not None:
            out.append(time_column >= self.start_ms)
        if self.end_ms is not None:
            out.append(time_column < self.end_ms)
        return out


def _ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    stamp = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(stamp.timestamp() * 1000)


def iso(ms: int | None) -> datetime | None:
    """Return epoch milliseconds as an aware UTC datetime."""
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(key: Sequence[Any]) -> str:
    """Return the opaque cursor of a row key."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """Return the row key of ``cursor``; raise QueryError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError("wrong length")
        return [kind(v) for kind, v in zip(types, key, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise QueryError(
            f"cursor must be a next_cursor this service returned, was {cursor!r}"
        ) from None


def _after(columns: Sequence[ColumnElement[Any]], key: Sequence[Any]) -> ColumnElement[bool]:
    # lexicographic (c1, c2, ...) > (k1, k2, ...), written out for both backends' planners
    terms = []
    for i, col in enumerate(columns):
        equal = [columns[j] == key[j] for j in range(i)]
        terms.append(and_(*equal, col > key[i]))
    return or_(*terms)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}, was {limit}")
    return limit


def _fetch(
    engine: Engine,
    query: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    key_types: Sequence[type],
    limit: int,
    cursor: str | None,
) -> tuple[list[str], Sequence[Any], bool]:
    # one page of raw rows ordered by ``keys`` after ``cursor``: (names, rows, more follow)
    size = _limit(limit)
    if cursor:
        query = query.where(_after(keys, decode_cursor(cursor, key_types)))
    query = query.order_by(*keys).limit(size + 1)
    with engine.connect() as conn:
        result = conn.execute(query)
        names = list(result.keys())
        rows = result.all()
    return names, rows[:size], len(rows) > size


def _page(
    engine: Engine,
    query: Select[Any],
    keys: Sequence[ColumnElement[Any]],
    key_types: Sequence[type],
    key_of: Callable[[dict[str, Any]], Sequence[Any]],
    convert: Callable[[dict[str, Any]], dict[str, Any]],
    limit: int,
    cursor: str | None,
) -> Page:
    names, raw, more = _fetch(engine, query, keys, key_types, limit, cursor)
    rows = [dict(zip(names, row, strict=True)) for row in raw]
    following = encode_cursor(key_of(rows[-1])) if more and rows else None
    return Page([_exact(convert(r)) for r in rows], following)


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    # the same decimal text on both backends (PostgreSQL pads NUMERIC(38, 18) with zeros)
    for key, value in row.items():
        if type(value) is Decimal:
            row[key] = Decimal(format(value.normalize(), "f"))
    return row


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _record(
    r: dict[str, Any], time_ms: str, fields: Sequence[str], flags: Collection[str] = ()
) -> dict[str, Any]:
    # "time" from the epoch-ms column, then ``fields`` as stored (``flags`` as bools)
    out: dict[str, Any] = {"time": iso(r[time_ms])}
    for name in fields:
        out[name] = bool(r[name]) if name in flags else r[name]
    return out


# the documented fields of each row (aifap.watch.schemas), after "time", in order
_ORDER_FIELDS = (
    "client_id", "cycle", "seq", "batch", "symbol", "side", "amount", "reduce_only", "leg",
    "take_profit", "stop_loss", "status", "exchange_id", "filled", "average_price", "reason",
)  # fmt: skip
_FILL_FIELDS = (
    "id", "client_id", "order_id", "symbol", "side", "amount", "price", "fee", "fee_currency",
    "reason", "realized_pnl", "ours",
)  # fmt: skip
_EVENT_FIELDS = ("id", "cycle", "level", "kind", "message")


class ResultsReader:
    """Queries over one results database (read only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- health and sessions -------------------------------------------------------

    def ping(self) -> int:
        """Return how many sessions have snapshots; raise if the database or schema is missing."""
        with self.engine.connect() as conn:
            conn.execute(select(func.count()).select_from(sessions_t)).scalar()
            count = conn.execute(
                select(func.count(func.distinct(WatchSnapshot.session_id)))
            ).scalar()
        return int(count or 0)

    def exists(self, session_id: str) -> bool:
        """Tell whether the session has a session row or finwatcher snapshots."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(sessions_t.c.session_id).where(sessions_t.c.session_id == session_id)
            ).first()
            if found is None:
                found = conn.execute(
                    select(WatchSnapshot.id).where(WatchSnapshot.session_id == session_id).limit(1)
                ).first()
        return found is not None

    def require(self, session_id: str) -> None:
        """Raise SessionNotFound unless the session exists."""
        if not self.exists(session_id):
            raise SessionNotFound(f"session {session_id!r} not found")

    def _session_query(self, only: Collection[str] | None = None) -> Select[Any]:
        # ``only``: restrict every part to these sessions (not just the final rows)
        ids_in = sorted(only) if only is not None else None
        snaps = select(
            WatchSnapshot.session_id.label("sid"),
            func.count().label("snapshots"),
            func.min(WatchSnapshot.ts_ms).label("first_ms"),
            func.max(WatchSnapshot.ts_ms).label("last_ms"),
        )
        rows = select(sessions_t.c.session_id.label("session_id"))
        snap_ids = select(WatchSnapshot.session_id.label("session_id")).distinct()
        if ids_in is not None:
            snaps = snaps.where(WatchSnapshot.session_id.in_(ids_in))
            rows = rows.where(sessions_t.c.session_id.in_(ids_in))
            snap_ids = snap_ids.where(WatchSnapshot.session_id.in_(ids_in))
        stats = snaps.group_by(WatchSnapshot.session_id).subquery()
        ids = union(rows, snap_ids).subquery()
        return (
            select(
                ids.c.session_id,
                sessions_t.c.trader,
                sessions_t.c.strategy,
                sessions_t.c.status,
                sessions_t.c.exit_code,
                sessions_t.c.reason,
                sessions_t.c.started_ms,
                sessions_t.c.stopped_ms,
                sessions_t.c.initial_equity,
                sessions_t.c.runs,
                stats.c.snapshots,
                stats.c.first_ms,
                stats.c.last_ms,
            )
            .select_from(ids)
            .outerjoin(sessions_t, sessions_t.c.session_id == ids.c.session_id)
            .outerjoin(stats, stats.c.sid == ids.c.session_id)
        )

    @staticmethod
    def _session_row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "session_id": r["session_id"],
            "trader": r["trader"],
            "strategy": r["strategy"],
            "status": r["status"] or "unknown",
            "exit_code": r["exit_code"],
            "reason": r["reason"],
            "started": iso(r["started_ms"] if r["started_ms"] is not None else r["first_ms"]),
            "stopped": iso(r["stopped_ms"]),
            "allocation": _float(r["initial_equity"]),
            "runs": r["runs"] or 0,
            "snapshots": int(r["snapshots"] or 0),
            "first_snapshot": iso(r["first_ms"]),
            "last_snapshot": iso(r["last_ms"]),
        }

    def sessions(
        self,
        span: TimeRange,
        limit: int,
        cursor: str | None,
        only: Collection[str] | None = None,
    ) -> Page:
        """Return sessions by id; the range filters on the start (first snapshot if no row).

        ``only``: the session ids the caller may see (None: all).
        """
        query = self._session_query(only).subquery()
        started = func.coalesce(query.c.started_ms, query.c.first_ms)
        base = select(query).where(*span.where(started))
        return _page(
            self.engine,
            base,
            [query.c.session_id],
            [str],
            lambda r: [r["session_id"]],
            self._session_row,
            limit,
            cursor,
        )

    def session(self, session_id: str) -> dict[str, Any]:
        """Return one session's row; raise SessionNotFound."""
        query = self._session_query().subquery()
        with self.engine.connect() as conn:
            row = conn.execute(select(query).where(query.c.session_id == session_id)).first()
        if row is None:
            raise SessionNotFound(f"session {session_id!r} not found")
        return self._session_row(dict(row._mapping))

    def initial_equity(self, session_id: str) -> float | None:
        """Return the session's allocation (its ``live_sessions`` row), if recorded."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(sessions_t.c.initial_equity).where(sessions_t.c.session_id == session_id)
            ).scalar()
        return _float(value)

    def config_json(self, session_id: str) -> dict[str, Any]:
        """Return the session's recorded (redacted) config, or an empty dict."""
        with self.engine.connect() as conn:
            text = conn.execute(
                select(sessions_t.c.config_json).where(sessions_t.c.session_id == session_id)
            ).scalar()
        try:
            loaded = json.loads(text) if text else {}
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    # --- snapshots and positions ------------------------------------------------------

    @staticmethod
    def _snapshot_row(r: dict[str, Any]) -> dict[str, Any]:
        return {
            "time": iso(r["ts_ms"]),
            "ts_ms": r["ts_ms"],
            "pv": r["pv"],
            "balance": r["balance"],
            "roe": r["roe"],
            "upnl": r["upnl"],
            "sharpe": r["sharpe"],
            "max_drawdown": r["max_drawdown"],
            "funding_fees": r["funding_fees"],
        }

    @staticmethod
    def _snapshot_columns() -> list[Any]:
        s = WatchSnapshot.__table__.c
        # money as float64 in SQL: no Decimal per cell on the hot path (1,000-row pages)
        return [
            s.ts_ms,
            cast(s.pv, Double).label("pv"),
            cast(s.balance, Double).label("balance"),
            s.roe,
            cast(s.unrealized_pnl, Double).label("upnl"),
            s.sharpe,
            s.max_drawdown,
            cast(s.funding_fees, Double).label("funding_fees"),
        ]

    def snapshots(self, session_id: str, span: TimeRange, limit: int, cursor: str | None) -> Page:
        """Return finwatcher's metrics rows, oldest first.

        The hot path of the service (pages of up to 5,000 rows): every column arrives
        as a float or an int, so rows are built straight from the tuples.
        """
        s = WatchSnapshot.__table__.c
        query = select(*self._snapshot_columns()).where(
            s.session_id == session_id, *span.where(s.ts_ms)
        )
        _, rows, more = _fetch(self.engine, query, [s.ts_ms], [int], limit, cursor)
        at = datetime.fromtimestamp  # ~40% faster than _EPOCH + timedelta; exact for ms
        items = [
            {"time": at(ts / 1000, UTC), "ts_ms": ts, "pv": pv,
             "balance": balance, "roe": roe, "upnl": upnl, "sharpe": sharpe,
             "max_drawdown": drawdown, "funding_fees": funding}
            for ts, pv, balance, roe, upnl, sharpe, drawdown, funding in rows
        ]  # fmt: skip
        return Page(items, encode_cursor([items[-1]["ts_ms"]]) if more and items else None)

    def snapshot_count(self, session_id: str) -> int:
        """Return how many snapshots the session has."""
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(WatchSnapshot.session_id == session_id)
            ).scalar()
        return int(count or 0)

    def last_snapshot(self, session_id: str) -> dict[str, Any] | None:
        """Return the newest snapshot row, or None."""
        page = self._newest(session_id)
        return page[0] if page else None

    def _newest(self, session_id: str) -> list[dict[str, Any]]:
        s = WatchSnapshot.__table__.c
        query = (
            select(*self._snapshot_columns())
            .where(s.session_id == session_id)
            .order_by(s.ts_ms.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return [self._snapshot_row(dict(r)) for r in conn.execute(query).mappings()]

    def equity(self, session_id: str) -> tuple[list[int], list[float]]:
        """Return every (ts_ms, PV) of the session, oldest first, as two lists."""
        s = WatchSnapshot.__table__.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.ts_ms, s.pv).where(s.session_id == session_id).order_by(s.ts_ms)
            ).all()
        return [r[0] for r in rows], [float(r[1]) for r in rows]

    @staticmethod
    def _position_row(r: dict[str, Any]) -> dict[str, Any]:
        size, mark = r["size"], r["mark_price"]
        return {
            "time": iso(r["ts_ms"]),
            "ts_ms": r["ts_ms"],
            "symbol": r["symbol"],
            "side": "long" if size > 0 else "short",
            "size": size,
            "entry_price": r["entry_price"],
            "mark_price": mark,
            "value": float(size * mark),
            "leverage": r["leverage"],
            "take_profit": r["take_profit"],
            "stop_loss": r["stop_loss"],
            "funding_fee": r["funding_fee"],
            "upnl": float(r["unrealized_pnl"]),
        }

    def _positions_query(self) -> Select[Any]:
        s, p = WatchSnapshot.__table__.c, WatchPosition.__table__.c
        return select(
            s.ts_ms, p.symbol, p.size, p.entry_price, p.mark_price, p.leverage, p.take_profit,
            p.stop_loss, p.funding_fee, p.unrealized_pnl,
        ).join_from(WatchSnapshot, WatchPosition, p.snapshot_id == s.id)  # fmt: skip

    def positions(
        self,
        session_id: str,
        span: TimeRange,
        limit: int,
        cursor: str | None,
        *,
        latest: bool = False,
    ) -> Page:
        """Return the open positions of each snapshot (or of the newest one only)."""
        s, p = WatchSnapshot.__table__.c, WatchPosition.__table__.c
        query = self._positions_query().where(s.session_id == session_id, *span.where(s.ts_ms))
        if latest:
            newest = (
                select(func.max(s.ts_ms))
                .where(s.session_id == session_id, *span.where(s.ts_ms))
                .scalar_subquery()
            )
            query = query.where(s.ts_ms == newest)
        return _page(
            self.engine, query, [s.ts_ms, p.symbol], [int, str],
            lambda r: [r["ts_ms"], r["symbol"]], self._position_row, limit, cursor,
        )  # fmt: skip

    def daily_positions(self, session_id: str) -> list[dict[str, Any]]:
        """Return the positions of each UTC day's last snapshot (days are ``(00:00, 24:00]``)."""
        s = WatchSnapshot.__table__.c
        day = (s.ts_ms - 1) // DAY_MS  # integer division on both backends
        last = (
            select(func.max(s.ts_ms).label("ts_ms"))
            .where(s.session_id == session_id)
            .group_by(day)
            .subquery()
        )
        query = self._positions_query().where(
            s.session_id == session_id, s.ts_ms.in_(select(last.c.ts_ms))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(s.ts_ms)).mappings()
            return [self._position_row(dict(r)) for r in rows]

    # --- orders, fills and alerts ----------------------------------------------------

    def orders(self, session_id: str, span: TimeRange, limit: int, cursor: str | None) -> Page:
        """Return the journaled orders by cycle and plan position; time = the cycle's start."""
        o, c = orders_t.c, cycles_t.c
        query = (
            select(orders_t, c.started_ms.label("cycle_ms"))
            .select_from(orders_t)
            .outerjoin(cycles_t, and_(c.session_id == o.session_id, c.cycle == o.cycle))
            .where(o.session_id == session_id, *span.where(func.coalesce(c.started_ms, 0)))
        )

        def convert(r: dict[str, Any]) -> dict[str, Any]:
            row = _record(r, "cycle_ms", _ORDER_FIELDS, {"reduce_only"})
            row["updated"] = iso(r["updated_ms"])
            return row

        return _page(
            self.engine, query, [o.cycle, o.seq, o.client_id], [int, int, str],
            lambda r: [r["cycle"], r["seq"], r["client_id"]], convert, limit, cursor,
        )  # fmt: skip

    def fills(self, session_id: str, span: TimeRange, limit: int, cursor: str | None) -> Page:
        """Return the session's fills, oldest first."""
        return self._log_page(fills_t, session_id, span, limit, cursor, _FILL_FIELDS, {"ours"})

    def fill_totals(self, session_id: str) -> tuple[int, float]:
        """Return the session's number of fills and the fees they paid."""
        with self.engine.connect() as conn:
            fees = conn.execute(
                select(fills_t.c.fee).where(fills_t.c.session_id == session_id)
            ).scalars()
            values = [float(f) for f in fees]
        return len(values), float(sum(values))

    def all_fills(self, session_id: str) -> list[dict[str, Any]]:
        """Return every fill of the session (for reports), oldest first."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.fills(session_id, TimeRange(), MAX_LIMIT, cursor)
            items += page.items
            if page.next_cursor is None:
                return items
            cursor = page.next_cursor

    def alerts(self, session_id: str, span: TimeRange, limit: int, cursor: str | None) -> Page:
        """Return the session's alerts and notable events (``live_events``), oldest first."""
        return self._log_page(events_t, session_id, span, limit, cursor, _EVENT_FIELDS)

    def _log_page(
        self,
        log: TableClause,
        session_id: str,
        span: TimeRange,
        limit: int,
        cursor: str | None,
        fields: Sequence[str],
        flags: Collection[str] = (),
    ) -> Page:
        # a session's append-only log table (ts_ms, id, session_id, ...), oldest first
        c = log.c
        query = select(log).where(c.session_id == session_id, *span.where(c.ts_ms))
        return _page(
            self.engine, query, [c.ts_ms, c.id], [int, int], lambda r: [r["ts_ms"], r["id"]],
            lambda r: _record(r, "ts_ms", fields, flags), limit, cursor,
        )  # fmt: skip
