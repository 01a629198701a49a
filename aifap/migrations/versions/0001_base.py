"""Root revision: every module's branch starts here.

Each part of AIFAP owns one branch of migrations (``down_revision = "0001"`` and a
``branch_labels`` of its own: market, exchange, alerts, results, platform), so they
evolve independently; ``aifap.db.migrate`` upgrades every head.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

revision = "0001"
down_revision = None
branch_labels = ("base",)
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
