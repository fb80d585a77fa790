"""What is said about configuration: every problem at once, each on a line of its own.

:class:`mfa.settings.Settings` hands its problems here: the values its fields
refused (their types are :mod:`mfa.settings_types`), what the transports in use
cannot start without, and ``MFA_*`` variables that are no setting at all. Each line
names the variable and, unless it is a secret, the value, shortened and with any
URL password masked; a refused type gains the setting's meaning; an unknown name
gains the closest known one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mfa.settings import PREFIX, SECRETS, Settings, variable

# Variables the test suite reads (tests/conftest.py): not settings, not typos.
_NOT_SETTINGS_PREFIX = "MFA_TEST_"

# Settings that existed once: say so rather than guess a typo.
_REMOVED = {
    "MFA_SMS_CODE_ATTEMPTS": "it was never read; wrong codes are bounded by "
    "MFA_OTP_ATTEMPTS_PER_TRANSACTION",
}

# What each bundled SMS transport cannot start without (its from_settings says
# the same, later; here it joins the other problems in one report).
_NEEDS = {
    "twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
    "webhook": ("sms_webhook_url", "webhook_secret"),
}


def listing(problems: list[str]) -> str:
    """The one message of a :class:`~mfa.settings.SettingsError`: a heading, a line each."""
    count = len(problems)
    heading = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
    return heading + "".join(f"\n  {p}" for p in problems)


def report(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """What pydantic refused in ``data``, a line per variable."""
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
    return listing(lines)


def _meaning(field: str) -> str:
    description = Settings.model_fields[field].description or ""
    return f" ({description.split(';')[0]})" if description else ""


def redact_url(text: str) -> str:
    """``text`` with any URL's password masked: it never reaches a terminal or a log."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def _short(value: Any) -> str:
    text = redact_url(repr(value))
    return text if len(text) <= 60 else text[:57] + "…"


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``MFA_*`` name of ``env`` that is not a setting."""
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


def missing_for_transports(settings: Settings) -> list[str]:
    """What the SMS and push transports in use cannot start without."""
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
