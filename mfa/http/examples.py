"""Request examples of the OpenAPI document, one per route, kept apart from the schemas.

:func:`with_examples` adds to each operation of the document built by
:mod:`mfa.http.openapi`:

- an example for each path parameter;
- an ``example`` of its request body (a test validates each one with the route's
  own request schema, so an example can never show a body the service refuses);
- ``x-codeSamples``: the same call as a ``curl`` line (Redoc and other viewers
  show it), with the credential the route needs.
"""

from __future__ import annotations

import json
import re
from typing import Any

BASE = "http://127.0.0.1:8000"

PARAMETERS: dict[str, str] = {
    "tenant_id": "acme",
    "user_id": "alice",
    "key_id": "key_Hk3vJ9f2qWx0",
    "enrollment_id": "dev_4fGh8kLmN2pQ",
    "device_account_id": "dev_4fGh8kLmN2pQ",
    "webhook_id": "ep_Tq8Zk2Vb7Lx1",
    "delivery_id": "msg_5b0e1c9d2f7a4e6b8c3d1a0f9e8b7c6d",
}
# Path parameters whose example depends on the route.
NAMES = {"set_factor": "sms", "set_feature": "enrollment"}

BODIES: dict[str, dict[str, Any]] = {
    # factor protocol (the browser's calls)
    "start_flow": {"state_transport": "polling"},
    "transaction_state": {},
    "verify_otp": {"type": "manual_input", "code": "123456"},
    "recover_account": {"recovery_code": "K7Q2M9X4T1B8R6W3Z5N0P2L7"},
    "sms_enroll": {"phone_number": "+14155550100"},
    "send_sms": {},
    "send_push_notification": {},
    # the phone's calls
    "enroll": {
        "identifier": "d1f0c7e2-5b1a-4c3e-9a7d-2f6b8e4a1c90",
        "name": "Alice's phone",
        "push_credentials": {"service": "APNS", "token": "a1b2c3d4e5f6"},
        "public_key": {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": "0vx7agoebGcQSuu",
            "e": "AQAB",
        },
    },
    "resolve_transaction": {
        "challenge_response": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGFsbGVuZ2UifQ.sig"
    },
    "update_device": {
        "name": "Work phone",
        "push_credentials": {"service": "GCM", "token": "f9e8d7"},
    },
    # backend API
    "create_tenant": {"tenant_id": "acme", "name": "Acme Inc"},
    "create_api_key": {"name": "web backend", "scopes": ["transactions:create"]},
    "set_factor": {"enabled": False},
    "set_feature": {"enabled": True},
    "put_sms_settings": {"otp_length": 6},
    "put_quotas": {"sms_per_user": {"limit": 5, "window_seconds": 3600}},
    "request_token": {"user_id": "alice"},
    "enrollment_ticket": {"user_id": "alice"},
    "regenerate_recovery": {},
    "put_hosted_pages": {
        "allowed_return_urls": ["https://app.example.com/mfa/return"],
        "logo_url": "https://app.example.com/logo.svg",
        "primary_color": "#1a73e8",
    },
    # events and webhooks (mfa.http.events)
    "create_webhook": {
        "url": "https://app.example.com/hooks/mfa",
        "events": ["auth.failed", "user.locked"],
    },
    "rotate_secret": {},
    "test_webhook": {},
    "redeliver": {},
}

# The Authorization header each security scheme sends, as a shell variable.
_AUTH = {
    "apiKey": "Authorization: Bearer $MFA_KEY",
    "requestToken": "Authorization: Bearer $REQUEST_TOKEN",
    "transactionToken": "Authorization: Bearer $TX",
    "enrollmentTicket": 'Authorization: Ticket id="$TICKET"',
    "deviceToken": "Authorization: Bearer $DEVICE_TOKEN",
    "deviceJwt": "Authorization: Bearer $DEVICE_JWT",
}


def with_examples(document: dict[str, Any]) -> dict[str, Any]:
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            _add(path, method, op)
    return document


def _add(path: str, method: str, op: dict[str, Any]) -> None:
    name = op["operationId"]
    values = {**PARAMETERS, "name": NAMES.get(name, "sms")}
    for param in op.get("parameters", []):
        param["example"] = values.get(param["name"], param["name"])
    body = BODIES.get(name)
    if "requestBody" in op and body is not None:
        op["requestBody"]["content"]["application/json"]["example"] = body
    url = BASE + re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), m.group(1)), path)
    parts = ["curl", "-X", method.upper(), f"'{url}'"]
    security = op.get("security") or []
    if security:
        header = _AUTH[next(iter(security[0]))]
        parts += ["-H", f'"{header}"' if "$" in header else f"'{header}'"]
    if "requestBody" in op:
        parts += ["-H", "'Content-Type: application/json'", "-d", f"'{json.dumps(body or {})}'"]
    op["x-codeSamples"] = [{"lang": "Shell", "label": "curl", "source": " ".join(parts)}]
