"""``mfa events`` and ``mfa webhooks``: the audit trail and webhook endpoints from
the command line (in process, operator rights), as real processes."""

from __future__ import annotations

from pathlib import Path

from standardwebhooks.webhooks import Webhook

from tests.stubs.tenant_webhook_receiver import TenantWebhookReceiver
from tests.test_cli import migrated, ok_json, run

__all__ = ["migrated"]


def test_events_show_the_trail_with_filters(migrated: Path) -> None:
    ok_json(
        run(
            migrated,
            "--json",
            "api-keys",
            "create",
            "acme",
            "--name",
            "a",
            "--scope",
            "events:read",
        )
    )
    ok_json(run(migrated, "--json", "factors", "disable", "acme", "sms"))
    page = ok_json(run(migrated, "--json", "events", "acme"))
    assert [e["type"] for e in page["events"]] == ["api_key.created", "tenant.settings_changed"]
    assert page["next_cursor"]
    only = ok_json(run(migrated, "--json", "events", "acme", "--type", "tenant.settings_changed"))
    assert len(only["events"]) == 1
    after = ok_json(run(migrated, "--json", "events", "acme", "--cursor", page["next_cursor"]))
    assert after["events"] == []
    table = run(migrated, "events", "acme")
    assert table.returncode == 0 and "api_key.created" in table.stdout
    bad = run(migrated, "events", "acme", "--since", "last week")
    assert bad.returncode == 1 and "invalid_query_string" in bad.stderr


def test_webhooks_lifecycle(migrated: Path) -> None:
    receiver = TenantWebhookReceiver()
    with receiver._server:
        hook = ok_json(
            run(
                migrated,
                "--json",
                "webhooks",
                "create",
                "acme",
                receiver.url,
                "--event",
                "auth.failed,auth.succeeded",
                "--event",
                "user.locked",
            )
        )
        assert hook["secret"].startswith("whsec_")
        assert hook["events"] == ["auth.failed", "auth.succeeded", "user.locked"]
        (listed,) = ok_json(run(migrated, "--json", "webhooks", "list", "acme"))
        assert listed["id"] == hook["id"]
        sent = ok_json(run(migrated, "--json", "webhooks", "test", "acme", hook["id"]))
        assert sent["status"] == "delivered"
        (got,) = receiver.received
        assert Webhook(hook["secret"]).verify(got.raw, got.headers)["type"] == "webhook.test"
        (delivery,) = ok_json(run(migrated, "--json", "webhooks", "deliveries", "acme", hook["id"]))
        assert delivery["id"] == sent["id"]
        again = ok_json(
            run(migrated, "--json", "webhooks", "redeliver", "acme", hook["id"], sent["id"])
        )
        assert again["status"] == "pending"
        rotated = ok_json(run(migrated, "--json", "webhooks", "rotate-secret", "acme", hook["id"]))
        assert rotated["secret"] != hook["secret"]
        ok_json(run(migrated, "--json", "webhooks", "delete", "acme", hook["id"], "--yes"))
        assert ok_json(run(migrated, "--json", "webhooks", "list", "acme")) == []
    bad = run(
        migrated, "webhooks", "create", "acme", "http://example.com/", "--event", "auth.failed"
    )
    assert bad.returncode == 1 and "invalid_body" in bad.stderr
