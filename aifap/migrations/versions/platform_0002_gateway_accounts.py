"""Platform: gateway accounts (an exchange account's gateway service instead of its keys).

``platform_accounts`` gets ``gateway_url`` and ``gateway_account``; the key columns
become nullable; a check constraint keeps exactly one of: the keys, or the gateway.
On SQLite the table is rebuilt (batch mode: copy, drop, rename). Dropping it while
``platform_traders`` rows point at it would break their foreign keys (checked, and a
deferred check still counts the drop at commit), so the traders are set aside in a
temporary table meanwhile and put back after: the rebuilt table's ids are the same.

Revision ID: platform_0002
Revises: platform_0001
Create Date: 2026-12-01
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "platform_0002"
down_revision = "platform_0001"
branch_labels = None
depends_on = None

CHECK = "ck_platform_accounts_keys_or_gateway"
# frozen here (as the model's KEYS_OR_GATEWAY was at this revision)
KEYS_OR_GATEWAY = (
    "(api_key_enc IS NOT NULL AND secret_enc IS NOT NULL"
    " AND gateway_url IS NULL AND gateway_account IS NULL)"
    " OR (api_key_enc IS NULL AND secret_enc IS NULL AND passphrase_enc IS NULL"
    " AND gateway_url IS NOT NULL AND gateway_account IS NOT NULL)"
)


@contextmanager
def _traders_set_aside() -> Iterator[None]:
    """On SQLite, hold ``platform_traders``' rows aside while ``platform_accounts`` is rebuilt."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE platform_traders_aside AS SELECT * FROM platform_traders")
    op.execute("DELETE FROM platform_traders")
    yield
    op.execute("INSERT INTO platform_traders SELECT * FROM platform_traders_aside")
    op.execute("DROP TABLE platform_traders_aside")


def upgrade() -> None:
    with _traders_set_aside(), op.batch_alter_table("platform_accounts") as batch:
        batch.alter_column("api_key_enc", existing_type=sa.Text, nullable=True)
        batch.alter_column("secret_enc", existing_type=sa.Text, nullable=True)
        batch.add_column(sa.Column("gateway_url", sa.String(500), nullable=True))
        batch.add_column(sa.Column("gateway_account", sa.String(64), nullable=True))
        batch.create_check_constraint(CHECK, KEYS_OR_GATEWAY)


def downgrade() -> None:
    gateways = op.get_bind().execute(
        sa.text("SELECT count(*) FROM platform_accounts WHERE gateway_url IS NOT NULL")
    )
    if gateways.scalar():
        raise RuntimeError(
            "gateway accounts must be deleted before a downgrade below platform_0002 "
            "(they hold no keys, which platform_0001 requires)"
        )
    with _traders_set_aside(), op.batch_alter_table("platform_accounts") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.drop_column("gateway_account")
        batch.drop_column("gateway_url")
        batch.alter_column("secret_enc", existing_type=sa.Text, nullable=False)
        batch.alter_column("api_key_enc", existing_type=sa.Text, nullable=False)
