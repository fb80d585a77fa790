"""Push devices: when and why a device's push endpoint was disabled.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER most things in place; plain ADD COLUMN elsewhere.
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("pn_disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pn_disabled_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("pn_disabled_reason")
        batch.drop_column("pn_disabled_at")
