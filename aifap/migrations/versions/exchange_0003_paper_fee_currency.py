"""Exchange: paper fills record the fee's currency and quote value (spot buys pay in base).

Revision ID: exchange_0003
Revises: exchange_0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from aifap.exchange.paper.models import PaperAmount

revision = "exchange_0003"
down_revision = "exchange_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("paper_fills", sa.Column("fee_currency", sa.String(16), nullable=True))
    op.add_column("paper_fills", sa.Column("fee_quote", PaperAmount, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("paper_fills") as batch:
        batch.drop_column("fee_quote")
        batch.drop_column("fee_currency")
