"""What each API-key scope allows: for ``mfa scopes`` and the README's table.

Kept beside the CLI rather than in :mod:`mfa.names` so that ``mfa scopes`` needs
no server module; a test checks that every :class:`~mfa.names.Scope` is here and
that the README shows this table.
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "tenants:read": "list tenants and read a tenant's settings",
    "tenants:write": "create and delete tenants (operator keys only)",
    "keys:write": "create and revoke the tenant's API keys (never stronger than the key asking)",
    "factors:read": "read factor toggles",
    "factors:write": "switch factors and features on or off, set SMS code length",
    "quotas:read": "read SMS and push quotas",
    "quotas:write": "change SMS and push quotas",
    "transactions:create": "issue request tokens and enrollment tickets (what a login needs)",
    "enrollments:read": "list a user's enrollments (phone numbers masked)",
    "enrollments:write": "delete an enrollment (reset a user's MFA), regenerate recovery codes",
    "events:read": "read the audit trail, the webhook endpoints and their deliveries",
    "webhooks:write": "register, test, rotate, delete webhook endpoints; redeliver",
}


def markdown_table() -> str:
    rows = ["| scope | allows |", "|---|---|"]
    rows += [f"| `{scope}` | {allows} |" for scope, allows in SCOPES.items()]
    return "\n".join(rows) + "\n"
