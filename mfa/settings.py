"""Configuration: one typed object, read from ``MFA_*`` variables or built in code.

Everything configurable lives here so that no module reads the environment on its
own. :meth:`Settings.from_env` is what ``mfa serve`` uses; tests and hosts build a
:class:`Settings` directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mfa.names import Factor

FACTORS: tuple[str, ...] = tuple(f.value for f in Factor)

# Transport names are open: any installed entry point of mfa.sms_transports or
# mfa.push_transports (see mfa.delivery). Checked by validate().
SmsTransportName = str
PushTransportName = str


class SettingsError(ValueError):
    """A configuration value is missing or malformed (raised at start-up)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///mfa.db"
    redis_url: str | None = None
    admin_key: str | None = None
    # JSON array of private EC P-256 JWKs, newest first (see mfa.keys).
    signing_keys: str | None = None
    # Comma list of base64url 32-byte AES keys, newest first.
    encryption_keys: str | None = None
    disabled_factors: frozenset[str] = frozenset()
    transaction_ttl_seconds: int = 300
    request_token_ttl_seconds: int = 300
    enrollment_ticket_ttl_seconds: int = 7 * 24 * 3600
    sms_transport: SmsTransportName = "console"
    push_transport: PushTransportName = "console"
    sms_webhook_url: str | None = None
    push_webhook_url: str | None = None
    webhook_secret: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_base_url: str | None = None
    # Browser origins allowed to call the service cross-origin (comma list, or *).
    # Not needed when the app is mounted in the host's own origin.
    cors_origins: frozenset[str] = frozenset()
    # Guard rails of the HTTP layer.
    max_body_bytes: int = 64 * 1024
    backend_timeout_seconds: float = 2.0
    # TOTP and code policy (NIST SP 800-63B: throttle online guessing per account).
    totp_valid_window: int = 1
    otp_attempts_per_transaction: int = 5
    user_failed_attempts_limit: int = 10
    user_lockout_seconds: int = 900
    sms_code_ttl_seconds: int = 180
    # Schema: upgrade at start-up instead of refusing an outdated schema.
    # None means "yes for SQLite" (the embedded default), "no" elsewhere.
    auto_migrate: bool | None = None
    # Cheap argon2 parameters, for test suites only.
    argon2_profile: Literal["rfc9106_low_memory", "cheapest"] = "rfc9106_low_memory"
    # Where generated development keys are kept when none are configured.
    dev_keys_path: str = "mfa-dev-keys.json"
    # --- Push transports: APNs, FCM and multi (transports/apns.py, fcm.py, multi.py) ---
    # APNs token-based auth: the .p8 key (a path, or the PEM itself), its key id, the team.
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_key: str | None = None
    apns_topic: str | None = None  # the app's bundle id
    # "production", "sandbox", or a URL (a proxy, a local stub: http:// speaks h2c).
    apns_base_url: str = "production"
    # CA bundle to trust instead of the system's, for a TLS proxy or stub on https://.
    apns_ca_file: str | None = None
    # FCM HTTP v1: a service-account key (a path, or the JSON itself).
    fcm_credentials: str | None = None
    fcm_project_id: str | None = None  # default: the key's project_id
    fcm_base_url: str | None = None  # default: https://fcm.googleapis.com
    fcm_token_url: str | None = None  # default: the key's token_uri
    # MFA_PUSH_TRANSPORT=multi: which transport serves each device service.
    push_apns_transport: str = "apns"
    push_gcm_transport: str = "fcm"
    # --- end of push transports ---

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
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        kw: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get("MFA_" + f.name.upper())
            if raw is None or raw == "":
                continue
            kw[f.name] = _parse(f.name, f.type, raw)
        settings = cls(**kw)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        unknown = self.disabled_factors - set(FACTORS)
        if unknown:
            raise SettingsError(
                f"MFA_DISABLED_FACTORS names unknown factors {sorted(unknown)}; "
                f"known: {', '.join(FACTORS)}"
            )
        from mfa.delivery import PUSH_GROUP, SMS_GROUP, check_transport_name

        check_transport_name(SMS_GROUP, self.sms_transport)
        check_transport_name(PUSH_GROUP, self.push_transport)
        if self.sms_transport == "twilio":
            for name in ("twilio_account_sid", "twilio_auth_token", "twilio_from"):
                if not getattr(self, name):
                    raise SettingsError(f"MFA_SMS_TRANSPORT=twilio needs MFA_{name.upper()}")
        if self.sms_transport == "webhook" and not (self.sms_webhook_url and self.webhook_secret):
            raise SettingsError(
                "MFA_SMS_TRANSPORT=webhook needs MFA_SMS_WEBHOOK_URL and MFA_WEBHOOK_SECRET"
            )
        self._validate_push_transports()
        if self.transaction_ttl_seconds <= 0 or self.transaction_ttl_seconds > 86400:
            raise SettingsError("MFA_TRANSACTION_TTL_SECONDS must be within 1..86400")

    # --- Push transports: APNs, FCM and multi ---
    def _validate_push_transports(self) -> None:
        used = {self.push_transport}
        if self.push_transport == "multi":
            for name in ("push_apns_transport", "push_gcm_transport"):
                child = getattr(self, name)
                if child == "multi":
                    raise SettingsError(f"MFA_{name.upper()} cannot be multi")
                used.add(child)
        if "apns" in used:
            for name in ("apns_key_id", "apns_team_id", "apns_key", "apns_topic"):
                if not getattr(self, name):
                    raise SettingsError(f"the apns push transport needs MFA_{name.upper()}")
            base = self.apns_base_url
            if base not in ("production", "sandbox") and not base.startswith(
                ("https://", "http://")
            ):
                raise SettingsError(
                    "MFA_APNS_BASE_URL must be production, sandbox or an http(s) URL"
                )
        if "fcm" in used and not self.fcm_credentials:
            raise SettingsError("the fcm push transport needs MFA_FCM_CREDENTIALS")
        for name in ("fcm_base_url", "fcm_token_url"):
            url = getattr(self, name)
            if url is not None and not url.startswith(("https://", "http://")):
                raise SettingsError(f"MFA_{name.upper()} must be an http(s) URL")

    # --- end of push transports ---


def _parse(name: str, type_: object, raw: str) -> object:
    t = str(type_)
    try:
        if name in ("disabled_factors", "cors_origins"):
            return frozenset(p.strip() for p in raw.split(",") if p.strip())
        if t in ("bool", "bool | None"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"MFA_{name.upper()}={raw!r} is not a valid {t}") from None
    return raw
