"""Transports are found by name through entry points, checked at start-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mfa import MFAService, Settings, SettingsError
from mfa.delivery import PUSH_GROUP, SMS_GROUP, transport_names
from transports.outbox import Outbox, PushOutbox


def test_bundled_transports_are_registered() -> None:
    assert {"console", "outbox", "twilio", "webhook"} <= set(transport_names(SMS_GROUP))
    assert {"console", "outbox", "webhook"} <= set(transport_names(PUSH_GROUP))


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"MFA_SMS_TRANSPORT": "carrier-pigeon"}, "MFA_SMS_TRANSPORT"),
        ({"MFA_PUSH_TRANSPORT": "smoke-signals"}, "MFA_PUSH_TRANSPORT"),
    ],
)
def test_a_transport_that_is_not_installed_is_refused_by_settings(
    env: dict[str, str], setting: str
) -> None:
    with pytest.raises(SettingsError, match=f"{setting}=.*names no installed transport"):
        Settings.from_env(env)


def test_empty_outboxes_passed_in_are_used(tmp_path: Path) -> None:
    """An empty Outbox is falsy (it has __len__): it must still win over the
    configured console transport."""
    sms, push = Outbox(), PushOutbox()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
        dev_keys_path=str(tmp_path / "keys.json"),
    )
    service = MFAService(settings, sms=sms, push=push)
    assert service.sms is sms and service.push is push


def test_a_third_party_transport_plugs_in_through_an_entry_point(tmp_path: Path) -> None:
    """A package that mfa has never heard of registers an SMS transport under the
    entry-point group and is picked by MFA_SMS_TRANSPORT alone."""
    pkg = tmp_path / "site"
    (pkg / "pigeon").mkdir(parents=True)
    (pkg / "pigeon" / "__init__.py").write_text(
        textwrap.dedent(
            """
            class PigeonSms:
                sent = []

                @classmethod
                def from_settings(cls, settings):
                    return cls()

                async def send(self, message):
                    PigeonSms.sent.append(message.to)

                async def aclose(self):
                    pass
            """
        )
    )
    dist = pkg / "pigeon-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mfa.sms_transports]\npigeon = pigeon:PigeonSms\n")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(pkg)!r})
        from mfa import MFAService, Settings
        s = Settings.from_env({{
            "MFA_SMS_TRANSPORT": "pigeon",
            "MFA_DATABASE_URL": "sqlite+aiosqlite:///{tmp_path / "db"}",
            "MFA_DEV_KEYS_PATH": "{tmp_path / "keys.json"}",
        }})
        print(type(MFAService(s).sms).__name__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "PigeonSms"
