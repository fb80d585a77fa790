"""Lockout ends: when each lockout runs out, so its end becomes an event.

A lockout ends by time (a Redis key expires), with no request to notice it.
Each ``user.locked`` event that reaches the audit table leaves a row here, in
the same transaction; the event mover turns due rows into ``user.unlocked``
events and removes them (mfa.storage.sql_events).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lockout_ends",
        sa.Column("lock_event_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("enrollment_id", sa.String(64), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lockout_ends_ends_at", "lockout_ends", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_lockout_ends_ends_at", table_name="lockout_ends")
    op.drop_table("lockout_ends")
