"""Initial schema: tenants, API keys, enrollments.

Revision ID: 0001
Revises:
Create Date: 2024-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("factors", sa.JSON, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("quotas", sa.JSON, nullable=False),
        sa.Column("sms_otp_length", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("key_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.String(64), primary_key=True),
        sa.Column(
            "tenant_id",
            sa.String(64),
            sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("methods", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary, nullable=True),
        sa.Column("phone_number", sa.LargeBinary, nullable=True),
        sa.Column("phone_masked", sa.Text, nullable=True),
        sa.Column("recovery_code_hash", sa.Text, nullable=True),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("device_identifier", sa.Text, nullable=True),
        sa.Column("device_public_key", sa.JSON, nullable=True),
        sa.Column("push_service", sa.String(32), nullable=True),
        sa.Column("push_token", sa.LargeBinary, nullable=True),
        sa.Column("device_token_hash", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "user_id", name="uq_enrollments_tenant_user"),
    )
    op.create_index("ix_enrollments_device_token_hash", "enrollments", ["device_token_hash"])


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_table("api_keys")
    op.drop_table("tenants")
