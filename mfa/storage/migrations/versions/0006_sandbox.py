"""Sandbox tenants and enrollment activity.

- ``tenants.sandbox``: false for every existing tenant.
- ``enrollments.last_used_at`` and ``enrollments.last_error`` (JSON): NULL until
  the enrollment is used or meets an error (mfa.activity).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("sandbox", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("last_error")
        batch.drop_column("last_used_at")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("sandbox")
