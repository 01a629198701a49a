"""Results: live sessions, leases, cycles, orders, fills, events; finwatcher snapshots.

Revision ID: results_0001
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from aifap.db import Amount

revision = "results_0001"
down_revision = "0001"
branch_labels = ("results",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("session_id", sa.String(40), primary_key=True),
        sa.Column("trader", sa.String(100), nullable=False),
        sa.Column("strategy", sa.String(200), nullable=False),
        sa.Column("account_key", sa.String(200), nullable=False),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("run_started_ms", sa.BigInteger, nullable=False),
        sa.Column("stopped_ms", sa.BigInteger, nullable=True),
        sa.Column("initial_equity", Amount(), nullable=False),
        sa.Column("initial_wallet", Amount(), nullable=False),
        sa.Column("clock_ms", sa.BigInteger, nullable=False),
        sa.Column("baseline_json", sa.Text, nullable=False),
        sa.Column("baseline_epoch", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("workdir", sa.Text, nullable=False),
    )
    op.create_table(
        "live_leases",
        sa.Column("account_key", sa.String(200), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_wall_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "live_cycles",
        sa.Column("session_id", sa.String(40), primary_key=True),
        sa.Column("cycle", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scheduled_ms", sa.BigInteger, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("targets_json", sa.Text, nullable=True),
        sa.Column("plan_json", sa.Text, nullable=True),
        sa.Column("prices_json", sa.Text, nullable=True),
        sa.Column("equity", Amount(), nullable=True),
        sa.Column("positions_before_json", sa.Text, nullable=True),
        sa.Column("positions_after_json", sa.Text, nullable=True),
        sa.Column("state_json", sa.Text, nullable=True),
        sa.Column("replayed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "live_orders",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("batch", sa.Integer, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("leg", sa.String(16), nullable=False),
        sa.Column("take_profit", Amount(), nullable=True),
        sa.Column("stop_loss", Amount(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exchange_id", sa.String(64), nullable=True),
        sa.Column("filled", Amount(), nullable=False),
        sa.Column("average_price", Amount(), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("sends", sa.Integer, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_live_orders_cycle", "live_orders", ["session_id", "cycle"])
    op.create_table(
        "live_fills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("fill_key", sa.String(128), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("price", Amount(), nullable=False),
        sa.Column("fee", Amount(), nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("realized_pnl", Amount(), nullable=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("ours", sa.Boolean, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.UniqueConstraint("session_id", "fill_key", name="uq_live_fills_key"),
    )
    op.create_index("ix_live_fills_session_ts", "live_fills", ["session_id", "ts_ms"])
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_live_events_session", "live_events", ["session_id", "id"])
    op.create_table(
        "watch_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("taken_ms", sa.BigInteger, nullable=False),
        sa.Column("balance", Amount(), nullable=False),
        sa.Column("pv", Amount(), nullable=False),
        sa.Column("roe", sa.Double, nullable=False),
        sa.Column("unrealized_pnl", Amount(), nullable=False),
        sa.Column("sharpe", sa.Double, nullable=True),
        sa.Column("max_drawdown", sa.Double, nullable=False),
        sa.Column("funding_fees", Amount(), nullable=False),
        sa.UniqueConstraint("session_id", "ts_ms", name="uq_watch_snapshots_ts"),
    )
    op.create_table(
        "watch_positions",
        sa.Column(
            "snapshot_id",
            sa.Integer,
            sa.ForeignKey("watch_snapshots.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("size", Amount(), nullable=False),
        sa.Column("entry_price", Amount(), nullable=False),
        sa.Column("mark_price", Amount(), nullable=False),
        sa.Column("leverage", Amount(), nullable=False),
        sa.Column("take_profit", Amount(), nullable=True),
        sa.Column("stop_loss", Amount(), nullable=True),
        sa.Column("funding_fee", Amount(), nullable=False),
        sa.Column("unrealized_pnl", Amount(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "watch_positions",
        "watch_snapshots",
        "live_events",
        "live_fills",
        "live_orders",
        "live_cycles",
        "live_leases",
        "live_sessions",
    ):
        op.drop_table(table)
