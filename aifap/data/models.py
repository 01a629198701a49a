"""Tables of the ``market`` database: OHLCV bars, funding rates, confirmed-empty ranges, locks.

Bars are keyed by ``(series_id, ts)``: a series is one (exchange, market, symbol,
timeframe), stored once in ``ohlcv_series``. Two narrow integer key columns keep the
primary-key index small and the ``COPY`` stream compact (10 million bars are ~1 GB
with the four text columns in every key, a third of that without). ``ts`` is the
bar's open time in UTC milliseconds; prices and volumes are float64, as every bar
series in AIFAP (money that reaches an exchange is ``Decimal``, bars are not).

``ohlcv_bars`` has no foreign key to ``ohlcv_series`` on purpose: a foreign key is a
per-row trigger on PostgreSQL ``COPY``; only :mod:`aifap.data.writers` creates series
ids and writes bars. On SQLite the bar table is ``WITHOUT ROWID``: the rows live in
the primary-key B-tree, so "last N bars" reads one index range.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aifap.db import Base


class OhlcvSeries(Base):
    """One bar series: exchange, market type, symbol and timeframe."""

    __tablename__ = "ohlcv_series"
    __table_args__ = (
        UniqueConstraint("exchange", "market", "symbol", "timeframe", name="uq_ohlcv_series_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    timeframe: Mapped[str] = mapped_column(String(8))


class OhlcvBar(Base):
    """One bar: open time (UTC ms) → open, high, low, close, volume."""

    __tablename__ = "ohlcv_bars"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy's own mapping

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float] = mapped_column(Double)


class OhlcvEmptyRange(Base):
    """Bars the exchange answered it does not have: open times in ``[start_ts, end_ts)``.

    The collector records a range each run that finds it still empty; from the
    second such run (``attempts >= 2``) it counts as confirmed empty: gap reports
    show it apart and the collector never asks for it again.
    """

    __tablename__ = "ohlcv_empty_ranges"

    series_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    end_ts: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class FundingRate(Base):
    """A funding rate (per 8 h interval, as a fraction) settled at ``ts`` (UTC ms)."""

    __tablename__ = "funding_rates"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    market: Mapped[str] = mapped_column(String(16), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    rate: Mapped[float] = mapped_column(Double)


class DataLock(Base):
    """A named lease held by one process (SQLite's collector lock; PostgreSQL uses advisory)."""

    __tablename__ = "data_locks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[int] = mapped_column(BigInteger)
