"""Alerts: the outbox every alert is committed to before it is sent.

Revision ID: alerts_0001
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "alerts_0001"
down_revision = "0001"
branch_labels = ("alerts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("parts_sent", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("coalesce_key", sa.String(128), nullable=True),
        sa.Column("created_ts", sa.Float, nullable=False),
        sa.Column("deliver_after_ts", sa.Float, nullable=True),
        sa.Column("sent_ts", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_alert_outbox_session_id", "alert_outbox", ["session_id"])
    op.create_index(
        "ix_alert_outbox_session_status", "alert_outbox", ["session_id", "status", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_alert_outbox_session_status", table_name="alert_outbox")
    op.drop_index("ix_alert_outbox_session_id", table_name="alert_outbox")
    op.drop_table("alert_outbox")
