"""The Guardian push payload (guardian-wire §3.5): a push challenge as the phone reads it.

send-push-notification hands this to the push transport from inside the flow, so
it is the one wire shape the flows package holds; it lives here, apart from the
flow's decisions. FCM data values must all be strings (Android parses ``s`` from
JSON text); APNs carries objects and needs ``aps.category`` for the
approve/deny actions. The APNs transport nests everything but ``aps`` under
``mfa``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

APNS_CATEGORY = "com.auth0.notification.authentication"


@dataclass(frozen=True, slots=True)
class PushChallenge:
    """One push login challenge, for one device."""

    enrollment_id: str
    push_service: str  # "APNS" or "GCM"
    token: str = field(repr=False)  # the transaction token the phone answers with
    challenge: str = field(repr=False)  # the phone signs it back as ``sub``
    service_url: str  # where the phone calls back
    user_agent: str  # the browser's, shown on the phone as the source
    sent_at: float  # epoch seconds
    number_matching: bool  # the phone asks for the number the browser shows


def guardian_payload(push: PushChallenge) -> dict[str, Any]:
    product, _, version = push.user_agent.partition(" ")[0].partition("/")
    source = {"b": {"n": product[:64] or "unknown", "v": version[:32]}, "os": {"n": "", "v": ""}}
    stamp = datetime.fromtimestamp(push.sent_at, UTC)
    payload: dict[str, Any] = {
        "dai": push.enrollment_id,
        "txtkn": push.token,
        "c": push.challenge,
        "sh": push.service_url,
        "d": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
    }
    if push.push_service == "APNS":
        payload["s"] = source
        payload["aps"] = {"category": APNS_CATEGORY, "alert": "Approve this login?"}
        if push.number_matching:
            payload["nm"] = True
    else:
        payload["s"] = json.dumps(source, separators=(",", ":"))
        if push.number_matching:
            payload["nm"] = "1"
    return payload
