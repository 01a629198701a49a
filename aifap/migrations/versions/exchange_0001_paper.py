"""Exchange: paper-trading accounts, orders, fills, funding and position stops.

Revision ID: exchange_0001
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from aifap.db import Amount

revision = "exchange_0001"
down_revision = "0001"
branch_labels = ("exchange",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("market_type", sa.String(16), nullable=False),
        sa.Column("capital", Amount(any_scale=True), nullable=False),
        sa.Column("leverage", Amount(any_scale=True), nullable=False),
        sa.Column("processed_until_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("paper_accounts.name"), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("amount", Amount(any_scale=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled", Amount(any_scale=True), nullable=False),
        sa.Column("average_price", Amount(any_scale=True), nullable=True),
        sa.Column("reduce_only", sa.Boolean, nullable=False),
        sa.Column("take_profit", Amount(any_scale=True), nullable=True),
        sa.Column("stop_loss", Amount(any_scale=True), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.UniqueConstraint("account", "client_id", name="uq_paper_orders_client"),
    )
    op.create_index("ix_paper_orders_account", "paper_orders", ["account"])
    op.create_table(
        "paper_fills",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("paper_accounts.name"), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("amount", Amount(any_scale=True), nullable=False),
        sa.Column("price", Amount(any_scale=True), nullable=False),
        sa.Column("fee", Amount(any_scale=True), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("client_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("take_profit", Amount(any_scale=True), nullable=True),
        sa.Column("stop_loss", Amount(any_scale=True), nullable=True),
    )
    op.create_index("ix_paper_fills_account", "paper_fills", ["account"])
    op.create_table(
        "paper_funding",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), sa.ForeignKey("paper_accounts.name"), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("amount", Amount(any_scale=True), nullable=False),
        sa.Column("rate", Amount(any_scale=True), nullable=False),
        sa.Column("mark", Amount(any_scale=True), nullable=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_paper_funding_account", "paper_funding", ["account"])
    op.create_table(
        "paper_stops",
        sa.Column("account", sa.String(64), sa.ForeignKey("paper_accounts.name"), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("after_fill_seq", sa.Integer, nullable=False),
        sa.Column("take_profit", Amount(any_scale=True), nullable=True),
        sa.Column("stop_loss", Amount(any_scale=True), nullable=True),
    )


def downgrade() -> None:
    for table in ("paper_stops", "paper_funding", "paper_fills", "paper_orders", "paper_accounts"):
        op.drop_table(table)
