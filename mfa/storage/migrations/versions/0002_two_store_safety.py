"""Two-store safety: the recovery-code handover (a rotated code is kept until it
is known delivered) and the last accepted TOTP step (replay protection that
outlives a Redis loss).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("recovery_prev_hash", sa.Text, nullable=True))
        batch.add_column(sa.Column("recovery_handover", sa.LargeBinary, nullable=True))
        batch.add_column(
            sa.Column("recovery_handover_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("recovery_handover_at")
        batch.drop_column("recovery_handover")
        batch.drop_column("recovery_prev_hash")
