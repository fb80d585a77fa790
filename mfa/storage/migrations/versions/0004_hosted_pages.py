"""Hosted pages: the tenant's return-URL allowlist and branding for ``/ui/``.

One nullable JSON column on ``tenants``: NULL means never set (no return URL is
allowed, default branding), so existing tenants need no backfill.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("hosted_pages", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("hosted_pages")
