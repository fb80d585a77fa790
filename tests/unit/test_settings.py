"""Settings: typed, ranged, every problem reported at once, typos named."""

from __future__ import annotations

import logging

import pytest

from mfa.settings import Settings, SettingsError
from mfa.settings_report import unknown_variables


def test_ranges_are_enforced_in_code_too() -> None:
    with pytest.raises(SettingsError, match="MFA_TOTP_VALID_WINDOW=-5"):
        Settings(totp_valid_window=-5)
    with pytest.raises(SettingsError, match="MFA_OTP_ATTEMPTS_PER_TRANSACTION"):
        Settings().replace(otp_attempts_per_transaction=0)


def test_all_problems_in_one_error() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "MFA_REDIS_URL": "notaurl",
                "MFA_DATABASE_URL": "garbage",
                "MFA_USER_LOCKOUT_SECONDS": "x",
            }
        )
    message = str(caught.value)
    assert message.startswith("invalid configuration (3 problems):")
    assert len(message.splitlines()) == 4


def test_driverless_urls_get_our_driver() -> None:
    s = Settings.from_env({"MFA_DATABASE_URL": "postgresql://u@db/mfa"})
    assert s.database_url == "postgresql+asyncpg://u@db/mfa"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite+aiosqlite:///x.db"


def test_secrets_stay_out_of_repr_and_messages() -> None:
    s = Settings(admin_key="mfa_topsecret", twilio_auth_token="tok3n")
    assert "topsecret" not in repr(s) and "tok3n" not in repr(s)
    with pytest.raises(SettingsError) as caught:
        Settings(admin_key=["not", "text"])  # type: ignore[arg-type]
    assert "MFA_ADMIN_KEY:" in str(caught.value) and "not" not in str(caught.value).split(":")[1]


def test_unknown_variables_are_named_with_the_closest_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"MFA_REDIS_URI": "redis://x", "MFA_SMS_CODE_ATTEMPTS": "3", "MFA_TEST_PG_HOST": "h"}
    assert unknown_variables(env) == [
        "MFA_REDIS_URI is not an mfa setting and is ignored; did you mean MFA_REDIS_URL?",
        "MFA_SMS_CODE_ATTEMPTS was removed and is ignored: it was never read; wrong codes "
        "are bounded by MFA_OTP_ATTEMPTS_PER_TRANSACTION",
    ]
    with caplog.at_level(logging.WARNING, logger="mfa.settings"):
        Settings.from_env(env)
    assert "did you mean MFA_REDIS_URL?" in caplog.text
