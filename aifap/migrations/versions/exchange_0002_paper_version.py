"""Exchange: a change counter on paper accounts (processes reload only when it moved).

Revision ID: exchange_0002
Revises: exchange_0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "exchange_0002"
down_revision = "exchange_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "paper_accounts",
        sa.Column("version", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("paper_accounts") as batch:
        batch.drop_column("version")
