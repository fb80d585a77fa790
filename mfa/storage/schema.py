"""The SQL schema: table definitions and the Alembic helpers around them.

The tables here are what the store's queries are written against; the migration
scripts in :mod:`mfa.storage.migrations` are what creates them in a database. A
test compares the two, so they cannot drift apart.

Alembic runs without an ``alembic.ini`` on disk: :func:`alembic_config` builds
the configuration in code, pointing at the migrations package, so an installed
wheel can upgrade a database by itself (``mfa db upgrade``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The PostgreSQL advisory lock that serialises concurrent upgrades ("mfa", 1).
_LOCK_KEY = 0x6D6661_0001


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect.

    PostgreSQL keeps the zone (``timestamptz``); SQLite keeps none, so values are
    normalised to UTC before they are written and marked UTC when read back.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("factors", sa.JSON, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("quotas", sa.JSON, nullable=False),
    sa.Column("sms_otp_length", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # {"allowed_return_urls": [...], "logo_url", "primary_color"}; NULL: never set.
    sa.Column("hosted_pages", sa.JSON, nullable=True),
    sa.Column("sandbox", sa.Boolean, nullable=False, server_default=sa.false()),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column(
        "tenant_id",
        sa.String(64),
        sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("key_hash", sa.LargeBinary, nullable=False, unique=True, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

enrollments = sa.Table(
    "enrollments",
    metadata,
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
    # A rotated code's handover (migration 0002): see DurableStore.rotate_recovery_code.
    sa.Column("recovery_prev_hash", sa.Text, nullable=True),
    sa.Column("recovery_handover", sa.LargeBinary, nullable=True),
    sa.Column("recovery_handover_at", UtcDateTime, nullable=True),
    # The last TOTP step accepted, kept behind Redis's mark (mfa.flows.totp_steps).
    sa.Column("totp_last_step", sa.BigInteger, nullable=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("device_identifier", sa.Text, nullable=True),
    sa.Column("device_public_key", sa.JSON, nullable=True),
    sa.Column("push_service", sa.String(32), nullable=True),
    sa.Column("push_token", sa.LargeBinary, nullable=True),
    sa.Column("device_token_hash", sa.LargeBinary, nullable=True, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("pn_disabled_at", UtcDateTime, nullable=True),
    sa.Column("pn_disabled_reason", sa.Text, nullable=True),
    # Activity, written behind the request (mfa.activity; migration 0006).
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.JSON, nullable=True),
    sa.UniqueConstraint("tenant_id", "user_id", name="uq_enrollments_tenant_user"),
)


# --------------------------------------------------------------------------- events
# (migration 0005: the audit trail and tenant webhooks, mfa.events)

# BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# No foreign key to tenants: the audit trail of a deleted tenant is kept until the
# retention ends, and an event moved late (after the tenant's deletion) still lands.
events = sa.Table(
    "events",
    metadata,
    # The order of arrival in this table: the cursor of GET /events. Events moved
    # late get a later seq than events written before, so a cursor misses none.
    sa.Column("seq", _Seq, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("enrollment_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(32), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("client_ip", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("data", sa.JSON, nullable=True),
    sa.Index("ix_events_tenant_seq", "tenant_id", "seq"),
    sa.Index("ix_events_time", "time"),
)

# One row per lockout still running (from its user.locked event): the mover turns
# each into a user.unlocked event once ends_at has passed (migration 0007).
lockout_ends = sa.Table(
    "lockout_ends",
    metadata,
    sa.Column("lock_event_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("enrollment_id", sa.String(64), nullable=True),
    sa.Column("method", sa.String(32), nullable=True),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Index("ix_lockout_ends_ends_at", "ends_at"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.String(64), primary_key=True),
    sa.Column(
        "tenant_id",
        sa.String(64),
        sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    # [{"sealed": base64 AES-GCM blob, "expires_at": epoch | null}], newest first.
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column(
        "endpoint_id",
        sa.String(64),
        sa.ForeignKey("webhook_endpoints.endpoint_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)


# --------------------------------------------------------------------------- Alembic


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini`` needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation treats '%' specially (URL-encoded passwords).
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The revision the code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migration revision found")
    return head


def is_known_revision(revision: str) -> bool:
    """True if ``revision`` is one of ours (False: a newer code base migrated it)."""
    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == revision for rev in script.walk_revisions())


def read_revision(connection: sa.Connection) -> str | None:
    """The database's revision, None when it was never migrated. Sync: use run_sync."""
    return MigrationContext.configure(connection).get_current_revision()


def run_upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade on an open connection (shared with env.py). Sync: use run_sync."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    if connection.dialect.name == "postgresql":
        # Several workers starting with migrate=True: one migrates, the others wait
        # here, then find the database at head. Released at commit.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    command.upgrade(cfg, revision)
