"""Sandbox tenants: one boolean on ``tenants``, false for every existing tenant.

Revision ID: 0006
Revises: 0004 in this branch; becomes 0005 (the audit trail) when merged.
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"  # MERGE: "0005" once the audit-trail migration is in
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("sandbox", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("sandbox")
