"""Gateway service: the orders it sent, by account and client id (idempotent re-sends).

Revision ID: gateway_0001
Revises: 0001
Create Date: 2027-01-10
"""

import sqlalchemy as sa
from alembic import op

revision = "gateway_0001"
down_revision = "0001"
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_orders",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_orders")
