"""Market data: OHLCV series and bars, confirmed-empty ranges, funding rates, data locks.

Revision ID: market_0001
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "market_0001"
down_revision = "0001"
branch_labels = ("market",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ohlcv_series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.UniqueConstraint(
            "exchange", "market", "symbol", "timeframe", name="uq_ohlcv_series_key"
        ),
    )
    op.create_table(
        "ohlcv_bars",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("open", sa.Double, nullable=False),
        sa.Column("high", sa.Double, nullable=False),
        sa.Column("low", sa.Double, nullable=False),
        sa.Column("close", sa.Double, nullable=False),
        sa.Column("volume", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("series_id", "ts", name="pk_ohlcv_bars"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ohlcv_empty_ranges",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("start_ts", sa.BigInteger, nullable=False),
        sa.Column("end_ts", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("series_id", "start_ts", name="pk_ohlcv_empty_ranges"),
    )
    op.create_table(
        "funding_rates",
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("rate", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("exchange", "market", "symbol", "ts", name="pk_funding_rates"),
    )
    op.create_table(
        "data_locks",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "data_locks",
        "funding_rates",
        "ohlcv_empty_ranges",
        "ohlcv_bars",
        "ohlcv_series",
    ):
        op.drop_table(table)
