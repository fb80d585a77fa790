"""The Guardian push payload as each vendor carries it (guardian-wire §3.5)."""

from __future__ import annotations

from transports._push import guardian_fields


def test_guardian_fields_for_each_vendor() -> None:
    payload = {
        "dai": "dev_1",
        "c": "ch",
        "s": {"b": {"n": "Firefox"}},
        "l": "not json",
        "txlnkid": 7,
        "tenant_id": "acme",  # not a Guardian key: not sent to the phone
    }
    assert guardian_fields(payload, as_strings=False) == {
        "dai": "dev_1",
        "c": "ch",
        "s": {"b": {"n": "Firefox"}},
        "l": "not json",
        "txlnkid": 7,
    }
    assert guardian_fields(payload, as_strings=True) == {
        "dai": "dev_1",
        "c": "ch",
        "s": '{"b":{"n":"Firefox"}}',
        "l": "not json",
        "txlnkid": "7",
    }
