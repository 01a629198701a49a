"""Platform: users, managers (budget, risk limits), exchange accounts (keys encrypted),
traders, the audit log and issued/revoked tokens.

Revision ID: platform_0001
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from aifap.db import Amount

revision = "platform_0001"
down_revision = "0001"
branch_labels = ("platform",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("manager_id", sa.Integer, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until_ms", sa.BigInteger, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "platform_managers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("platform_users.id"), nullable=False, unique=True
        ),
        sa.Column("budget", Amount, nullable=False),
        sa.Column("max_drawdown", Amount, nullable=True),
        sa.Column("max_gross_exposure", Amount, nullable=True),
        sa.Column("max_daily_loss", Amount, nullable=True),
        sa.Column("on_breach", sa.String(8), nullable=False),
        sa.Column("breached", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "platform_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "manager_id", sa.Integer, sa.ForeignKey("platform_managers.id"), nullable=False
        ),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("demo", sa.Boolean, nullable=False),
        sa.Column("api_key_enc", sa.Text, nullable=False),
        sa.Column("secret_enc", sa.Text, nullable=False),
        sa.Column("passphrase_enc", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_platform_accounts_manager", "platform_accounts", ["manager_id"])
    op.create_table(
        "platform_traders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "manager_id", sa.Integer, sa.ForeignKey("platform_managers.id"), nullable=False
        ),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("strategy", sa.String(500), nullable=False),
        sa.Column("strategy_version", sa.String(64), nullable=True),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("session_json", sa.Text, nullable=False),
        sa.Column(
            "account_id", sa.Integer, sa.ForeignKey("platform_accounts.id"), nullable=True
        ),
        sa.Column("symbols_json", sa.Text, nullable=False),
        sa.Column("allocation", Amount, nullable=False),
        sa.Column("rebalance_every", sa.String(16), nullable=False),
        sa.Column("alert_channel", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_platform_traders_manager", "platform_traders", ["manager_id"])
    op.create_table(
        "platform_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "platform_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("platform_tokens")
    op.drop_table("platform_audit")
    op.drop_index("ix_platform_traders_manager", table_name="platform_traders")
    op.drop_table("platform_traders")
    op.drop_index("ix_platform_accounts_manager", table_name="platform_accounts")
    op.drop_table("platform_accounts")
    op.drop_table("platform_managers")
    op.drop_table("platform_users")
