"""Configuration: one typed object, read from ``MFA_*`` variables or built in code.

Everything configurable lives here, with its type, range and meaning, so that no
module reads the environment on its own and the README's configuration table is
generated from this one place (:mod:`mfa.settings_table`; a test keeps them equal).

:meth:`Settings.from_env` is what ``mfa serve`` uses; tests and hosts build a
:class:`Settings` directly. Either way every problem is reported at once, in one
:class:`SettingsError` with a line per variable, never as a traceback from deep
inside a driver on the first request.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from mfa.names import Factor

FACTORS: tuple[str, ...] = tuple(f.value for f in Factor)
PREFIX = "MFA_"
# Variables the test suite reads (tests/conftest.py): not settings, not typos.
_NOT_SETTINGS_PREFIX = "MFA_TEST_"

# Transport names are open: any installed entry point of mfa.sms_transports or
# mfa.push_transports (see mfa.delivery), checked by from_env.
SmsTransportName = str
PushTransportName = str

log = logging.getLogger("mfa.settings")


class SettingsError(ValueError):
    """A configuration value is missing or malformed (raised at start-up)."""


def _comma_set(value: Any) -> Any:
    # Environment variables are text: "sms, push" is a set of two.
    if isinstance(value, str):
        return frozenset(p.strip() for p in value.split(",") if p.strip())
    return value


CommaSet = Annotated[frozenset[str], BeforeValidator(_comma_set)]

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
    database_url: str = Field(
        "sqlite+aiosqlite:///mfa.db",
        description="durable store: `sqlite+aiosqlite:///path` or "
        "`postgresql+asyncpg://user:pass@host/db` (`sqlite://`, `postgresql://` are "
        "read as those)",
    )
    redis_url: str | None = Field(
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
    disabled_factors: CommaSet = Field(
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
            raise SettingsError(_report(exc, data)) from None

    # ------------------------------------------------------------------ checks

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or not rest:
            raise ValueError(
                "not a database URL; use sqlite+aiosqlite:///path/mfa.db or "
                "postgresql+asyncpg://user:password@host:5432/mfa"
            )
        # The driver is ours to choose: the one async driver per database we ship.
        scheme = {
            "sqlite": "sqlite+aiosqlite",
            "postgresql": "postgresql+asyncpg",
            "postgres": "postgresql+asyncpg",
        }.get(scheme, scheme)
        if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                f"unsupported scheme {scheme!r}; use sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return f"{scheme}://{rest}"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(
            ("redis://", "rediss://", "unix://", "redis+cluster://")
        ):
            raise ValueError(
                "not a Redis URL; use redis://host:6379/0, rediss://…, unix://… or "
                "redis+cluster://host:port,host:port for Redis Cluster"
            )
        return url

    @field_validator("disabled_factors")
    @classmethod
    def _factors(cls, names: frozenset[str]) -> frozenset[str]:
        unknown = names - set(FACTORS)
        if unknown:
            raise ValueError(f"unknown factors {sorted(unknown)}; known: {', '.join(FACTORS)}")
        return names

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

        problems = []
        for group, name in ((SMS_GROUP, self.sms_transport), (PUSH_GROUP, self.push_transport)):
            try:
                check_transport_name(group, name)
            except SettingsError as exc:
                problems.append(str(exc))
        problems += _missing_for_transports(self)
        if problems:
            raise SettingsError(_heading(len(problems)) + "".join(f"\n  {p}" for p in problems))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``MFA_*`` variables (empty ones count as unset). Unknown
        ``MFA_*`` names are logged with the closest known one: a typo must not
        silently leave a default in force."""
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


# What each bundled SMS transport cannot start without (its from_settings says
# the same, later; here it joins the other problems in one report).
_NEEDS = {
    "twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
    "webhook": ("sms_webhook_url", "webhook_secret"),
}


def _missing_for_transports(settings: Settings) -> list[str]:
    problems = []
    needed = _NEEDS.get(settings.sms_transport, ())
    missing = [variable(n) for n in needed if not getattr(settings, n)]
    if missing:
        problems.append(f"MFA_SMS_TRANSPORT={settings.sms_transport} needs {' and '.join(missing)}")
    return problems + _push_problems(settings)


def _push_problems(settings: Settings) -> list[str]:
    """What the push transports in use cannot start without (multi uses two)."""
    problems = []
    used = {settings.push_transport}
    if settings.push_transport == "multi":
        for name in ("push_apns_transport", "push_gcm_transport"):
            child = getattr(settings, name)
            if child == "multi":
                problems.append(f"{variable(name)} cannot be multi")
            used.add(child)
    if "apns" in used:
        needed = ("apns_key_id", "apns_team_id", "apns_key", "apns_topic")
        missing = [variable(n) for n in needed if not getattr(settings, n)]
        if missing:
            problems.append(f"the apns push transport needs {' and '.join(missing)}")
        base = settings.apns_base_url
        if base not in ("production", "sandbox") and not base.startswith(("https://", "http://")):
            problems.append("MFA_APNS_BASE_URL must be production, sandbox or an http(s) URL")
    if "fcm" in used and not settings.fcm_credentials:
        problems.append("the fcm push transport needs MFA_FCM_CREDENTIALS")
    for name in ("fcm_base_url", "fcm_token_url"):
        url = getattr(settings, name)
        if url is not None and not url.startswith(("https://", "http://")):
            problems.append(f"{variable(name)} must be an http(s) URL")
    return problems


def variable(name: str) -> str:
    return PREFIX + name.upper()


# Settings that existed once: say so rather than guess a typo.
_REMOVED = {
    "MFA_SMS_CODE_ATTEMPTS": "it was never read; wrong codes are bounded by "
    "MFA_OTP_ATTEMPTS_PER_TRANSACTION",
}


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    known = {variable(n) for n in Settings.model_fields}
    found = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known or name.startswith(_NOT_SETTINGS_PREFIX):
            continue
        if name in _REMOVED:
            found.append(f"{name} was removed and is ignored: {_REMOVED[name]}")
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        found.append(f"{name} is not an mfa setting and is ignored{hint}")
    return found


def _heading(count: int) -> str:
    return f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"


def _report(exc: ValidationError, data: Mapping[str, Any]) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if field not in Settings.model_fields:
            lines.append(f"{variable(field)}: not an mfa setting")
            continue
        shown = "" if field in SECRETS else f"={_short(data.get(field))}"
        # Our own checks say what to write; pydantic's ("should be a valid
        # integer") gain the setting's meaning.
        hint = "" if error["type"] == "value_error" else _meaning(field)
        lines.append(f"{variable(field)}{shown}: {message}{hint}")
    return _heading(len(lines)) + "".join(f"\n  {line}" for line in lines)


def _meaning(field: str) -> str:
    description = Settings.model_fields[field].description or ""
    return f" ({description.split(';')[0]})" if description else ""


def redact_url(text: str) -> str:
    """``text`` with any URL's password masked: it never reaches a terminal or a log."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def _short(value: Any) -> str:
    text = redact_url(repr(value))
    return text if len(text) <= 60 else text[:57] + "…"
