"""Configuration: one typed object, read from ``MFA_*`` variables or built in code.

Everything configurable lives here, with its type, range and meaning, so that no
module reads the environment on its own and the README's configuration table is
generated from this one place (:mod:`mfa.settings_table`; a test keeps them equal).

:meth:`Settings.from_env` is what ``mfa serve`` uses; tests and hosts build a
:class:`Settings` directly. Either way every problem is reported at once, in one
:class:`SettingsError` with a line per variable, never as a traceback from deep
inside a driver on the first request.

Values that need more than a type check (URLs, comma lists, factor names) are
:mod:`mfa.settings_types`. How problems are worded, with secrets and passwords
kept out, is :mod:`mfa.settings_report`: it reads this model's fields, so the
methods below import it when they run rather than this module at load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mfa.settings_types import FACTORS, CommaSet, DatabaseUrl, FactorSet, RedisUrl

PREFIX = "MFA_"

# Transport names are open: any installed entry point of mfa.sms_transports or
# mfa.push_transports (see mfa.delivery), checked by from_env.
SmsTransportName = str
PushTransportName = str

log = logging.getLogger("mfa.settings")


class SettingsError(ValueError):
    """A configuration value is missing or malformed (raised at start-up)."""


# Settings whose values never appear in a message, a repr or `mfa settings`.
SECRETS = frozenset(
    {
        "admin_key",
        "signing_keys",
        "encryption_keys",
        "webhook_secret",
        "twilio_auth_token",
        "apns_key",
        "fcm_credentials",
        "metrics_token",
    }
)


def _secret(description: str) -> Any:
    return Field(None, description=description, repr=False)


class Settings(BaseModel):
    """The service's configuration. Each field is the variable ``MFA_<NAME>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- stores
    database_url: DatabaseUrl = Field(
        "sqlite+aiosqlite:///mfa.db",
        description="durable store: `sqlite+aiosqlite:///path` or "
        "`postgresql+asyncpg://user:pass@host/db` (`sqlite://`, `postgresql://` are "
        "read as those)",
    )
    redis_url: RedisUrl | None = Field(
        None,
        description="ephemeral store (`redis://`, `rediss://`, `unix://`); unset = "
        "in-process store, one process only",
    )
    auto_migrate: bool | None = Field(
        None,
        description="upgrade the schema at start-up; unset = yes for SQLite, no "
        "otherwise (run `mfa db upgrade`)",
    )
    backend_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="bound on every Redis / database call (`service_unavailable` beyond)",
    )
    # -- keys
    admin_key: str | None = _secret(
        "the operator's API key (all scopes, all tenants); "
        "unset = generated and printed by `mfa serve`"
    )
    signing_keys: str | None = _secret(
        "JSON array of private EC P-256 JWKs, newest first (`mfa keys generate`); "
        "unset = development keys in `MFA_DEV_KEYS_PATH`"
    )
    encryption_keys: str | None = _secret(
        "comma list of base64url 32-byte AES keys, newest first; unset = development keys"
    )
    dev_keys_path: str = Field(
        "mfa-dev-keys.json",
        description="where development keys (and the development operator key) are "
        "kept when no keys are configured; relative to the working directory",
    )
    # -- factors and policy
    disabled_factors: FactorSet = Field(
        frozenset(),
        description="factors switched off for the whole deployment, comma list of "
        f"{', '.join(f'`{f}`' for f in FACTORS)} (`feature_disabled`)",
    )
    transaction_ttl_seconds: int = Field(
        300, ge=1, le=86400, description="lifetime of transactions and their tokens"
    )
    request_token_ttl_seconds: int = Field(
        300, ge=1, le=86400, description="lifetime of request tokens"
    )
    enrollment_ticket_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=1, le=90 * 86400, description="lifetime of enrollment tickets"
    )
    totp_valid_window: int = Field(
        1, ge=0, le=10, description="TOTP time steps (30 s) of clock drift accepted each side"
    )
    otp_attempts_per_transaction: int = Field(
        5, ge=1, le=100, description="wrong codes before a transaction dies"
    )
    user_failed_attempts_limit: int = Field(
        10, ge=1, le=10000, description="wrong codes per user before a lockout"
    )
    user_lockout_seconds: int = Field(900, ge=1, le=7 * 86400, description="the lockout's window")
    sms_code_ttl_seconds: int = Field(
        180, ge=1, le=86400, description="lifetime of an SMS code (within its transaction's)"
    )
    argon2_profile: Literal["rfc9106_low_memory", "cheapest"] = Field(
        "rfc9106_low_memory",
        description="recovery-code hashing cost; `cheapest` is for test suites only",
    )
    # -- HTTP
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="`mfa serve` worker processes (`--workers` overrides); more than one "
        "needs `MFA_REDIS_URL` and a PostgreSQL `MFA_DATABASE_URL`",
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="request body limit (`invalid_body` beyond)",
    )
    cors_origins: CommaSet = Field(
        frozenset(),
        description="browser origins allowed cross-origin (comma list, or `*`); not "
        "needed when mounted in your own origin",
    )
    # -- delivery
    sms_transport: SmsTransportName = Field(
        "console", description="`console`, `twilio`, `webhook`, `outbox` or an installed one"
    )
    push_transport: PushTransportName = Field(
        "console", description="`console`, `webhook`, `outbox` or an installed one"
    )
    twilio_account_sid: str | None = Field(None, description="Twilio account SID (`AC…`)")
    twilio_auth_token: str | None = _secret("Twilio auth token")
    twilio_from: str | None = Field(
        None, description="Twilio sender: a number or a Messaging Service SID (`MG…`)"
    )
    twilio_base_url: str | None = Field(
        None, description="Twilio API base URL (regional edge, proxy, test stub)"
    )
    sms_webhook_url: str | None = Field(None, description="webhook SMS transport: receiver URL")
    push_webhook_url: str | None = Field(None, description="webhook push transport: receiver URL")
    webhook_secret: str | None = _secret("webhook transports: HMAC-SHA256 signing secret")
    # APNs (transports/apns.py): token-based auth with the `.p8` key.
    apns_key_id: str | None = Field(None, description="APNs: key id of the `.p8` signing key")
    apns_team_id: str | None = Field(None, description="APNs: Apple developer team id")
    apns_key: str | None = _secret("APNs: the `.p8` private key (a path, or the PEM itself)")
    apns_topic: str | None = Field(None, description="APNs: topic (the app's bundle id)")
    apns_base_url: str = Field(
        "production",
        description="APNs: `production`, `sandbox`, or a URL (a proxy or stub; `http://` "
        "speaks h2c)",
    )
    apns_ca_file: str | None = Field(
        None, description="APNs: CA bundle to trust instead of the system's (a TLS proxy)"
    )
    # FCM (transports/fcm.py): HTTP v1 with a service-account key.
    fcm_credentials: str | None = _secret("FCM: service-account key (a path, or the JSON itself)")
    fcm_project_id: str | None = Field(
        None, description="FCM: project id (default: the key's `project_id`)"
    )
    fcm_base_url: str | None = Field(
        None, description="FCM: API base URL override (default: Google's)"
    )
    fcm_token_url: str | None = Field(
        None, description="FCM: OAuth token URL override (default: the key's `token_uri`)"
    )
    # MFA_PUSH_TRANSPORT=multi (transports/multi.py): a transport per device service.
    push_apns_transport: str = Field(
        "apns", description="with `multi`: the push transport for iPhones (`APNS`)"
    )
    push_gcm_transport: str = Field(
        "fcm", description="with `multi`: the push transport for Android (`GCM`)"
    )
    # -- events (mfa.events): the audit trail and tenant webhooks
    events_retention_days: int = Field(
        90, ge=1, le=3650, description="days the audit trail keeps an event"
    )
    webhook_retry_window_seconds: float = Field(
        86400,
        ge=1,
        le=30 * 86400,
        description="a webhook delivery is retried this long, then marked failed",
    )
    webhook_retry_base_seconds: float = Field(
        30, gt=0, le=3600, description="first webhook retry delay (doubling each time)"
    )
    webhook_retry_cap_seconds: float = Field(
        4 * 3600, gt=0, le=86400, description="longest delay between webhook retries"
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, le=60, description="time a webhook receiver has to answer"
    )

    # -- operations (mfa.http.observe, mfa.logs)
    metrics: bool = Field(
        True, description="serve Prometheus metrics at `/metrics` (names prefixed `mfa_`)"
    )
    metrics_token: str | None = _secret(
        "bearer token `/metrics` wants (`Authorization: Bearer …`); unset = open to "
        "whoever reaches the port"
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`mfa serve` logs: `text`, or `json` (one object per line, each "
        "with the request id)",
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            from mfa.settings_report import report  # see the module's docstring

            raise SettingsError(report(exc, data)) from None

    # ------------------------------------------------------------------ derived

    @property
    def embedded(self) -> bool:
        """True on the single-process defaults (SQLite and in-process ephemeral store)."""
        return self.redis_url is None and self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        if self.auto_migrate is None:
            return self.database_url.startswith("sqlite")
        return self.auto_migrate

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes``, validated like any other."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**values, **changes})

    def check(self) -> None:
        """What one field cannot say alone: the transports are installed and have
        what they need. Raises one :class:`SettingsError` listing every problem;
        :meth:`from_env` calls it, and so does anything that builds settings in code
        and wants the same report before start-up."""
        # Transport names: entry points, read here rather than on every construction.
        from mfa.delivery import PUSH_GROUP, SMS_GROUP, check_transport_name
        from mfa.settings_report import listing, missing_for_transports

        problems = []
        for group, name in ((SMS_GROUP, self.sms_transport), (PUSH_GROUP, self.push_transport)):
            try:
                check_transport_name(group, name)
            except SettingsError as exc:
                problems.append(str(exc))
        problems += missing_for_transports(self)
        if problems:
            raise SettingsError(listing(problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MFA_*`` variables (empty ones count as unset). Unknown
        ``MFA_*`` names are logged with the closest known one: a typo must not
        silently leave a default in force."""
        from mfa.settings_report import unknown_variables

        env = os.environ if environ is None else environ
        for warning in unknown_variables(env):
            log.warning("%s", warning)
        raw = {
            name: env[variable(name)]
            for name in cls.model_fields
            if env.get(variable(name), "") != ""
        }
        settings = cls(**raw)
        settings.check()
        return settings


def variable(name: str) -> str:
    return PREFIX + name.upper()
