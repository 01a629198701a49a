"""Series keys, schema set-up and series-id lookups shared by the writers and the store.

A :class:`SeriesKey` names one bar series (exchange, market type, symbol,
timeframe). Its integer id (``ohlcv_series.id``) never changes once created, so ids
are cached per engine. ``ensure_schema`` runs the Alembic migrations once per URL
per process, which makes every entry point (importer, collector, store, service)
work on a fresh SQLite file or an empty PostgreSQL database.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from aifap.core.errors import DataError
from aifap.core.markets import MarketType
from aifap.core.timeframes import timeframe_seconds
from aifap.data.models import OhlcvSeries
from aifap.db import make_engine, migrate
from aifap.redaction import redact_url

log = logging.getLogger(__name__)

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One bar series: ``SeriesKey('bitget', 'futures', 'BTCUSDT', '1m')``."""

    exchange: str
    market: str
    symbol: str
    timeframe: str

    def __post_init__(self) -> None:
        if not self.exchange or not self.exchange.islower():
            raise DataError(f"exchange must be a lower-case name, was {self.exchange!r}")
        markets = [m.value for m in MarketType]
        if self.market not in markets:
            raise DataError(f"market must be one of {', '.join(markets)}, was {self.market!r}")
        if not self.symbol or not self.symbol.isupper() or "/" in self.symbol:
            raise DataError(f"symbol must be a compact upper-case id, was {self.symbol!r}")
        try:
            timeframe_seconds(self.timeframe)
        except ValueError as exc:
            raise DataError(str(exc)) from None

    def __str__(self) -> str:
        return f"{self.exchange}/{self.market}/{self.symbol}/{self.timeframe}"


def ensure_schema(url: str) -> Engine:
    """Migrate the market database at ``url`` once per process and return its engine."""
    engine = make_engine(url)
    with _migrate_lock:
        if url not in _migrated:
            try:
                migrate(url)
            except Exception:
                # another process may have been creating the same tables: try once more
                log.info("retrying the migration of %s", redact_url(url))
                migrate(url)
            _migrated.add(url)
    return engine


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def find_series_id(conn: Connection, key: SeriesKey) -> int | None:
    """Return the id of ``key``'s series, or None if it has never been written."""
    table = OhlcvSeries.__table__
    return conn.execute(
        select(table.c.id).where(
            table.c.exchange == key.exchange,
            table.c.market == key.market,
            table.c.symbol == key.symbol,
            table.c.timeframe == key.timeframe,
        )
    ).scalar_one_or_none()


def get_series_id(conn: Connection, key: SeriesKey) -> int:
    """Return the id of ``key``'s series, creating it (race-free) if needed."""
    found = find_series_id(conn, key)
    if found is not None:
        return found
    table = OhlcvSeries.__table__
    statement = (
        _insert(conn)(table)
        .values(
            exchange=key.exchange, market=key.market, symbol=key.symbol, timeframe=key.timeframe
        )
        .on_conflict_do_nothing()
    )
    conn.execute(statement)
    found = find_series_id(conn, key)
    if found is None:  # pragma: no cover - the insert above guarantees a row
        raise DataError(f"series {key}: could not be created")
    return found


def list_series(
    conn: Connection,
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbol: str | None = None,
) -> list[tuple[int, SeriesKey]]:
    """Return ``(id, key)`` of every stored series matching the filters, sorted by key."""
    table = OhlcvSeries.__table__
    query = select(table.c.id, table.c.exchange, table.c.market, table.c.symbol, table.c.timeframe)
    for column, value in (("exchange", exchange), ("market", market), ("symbol", symbol)):
        if value is not None:
            query = query.where(table.c[column] == value)
    rows = conn.execute(query).all()
    found = [(row[0], SeriesKey(row[1], row[2], row[3], row[4])) for row in rows]
    return sorted(
        found,
        key=lambda item: (
            item[1].exchange,
            item[1].market,
            item[1].symbol,
            timeframe_seconds(item[1].timeframe),
        ),
    )
