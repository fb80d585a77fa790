"""The catalogue is the contract: exact codes, statuses from API.md, derived artefacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mfa.errors as errors_module
from mfa.catalogue import CATALOGUE, catalogue_json, render_markdown
from mfa.errors import ERROR_CLASSES, FieldRequired, InvalidOtp, MFAError, TooManySms, from_body

ROOT = Path(__file__).resolve().parents[2]
# The contract documents travel with the repository, so this runs in any clone.
CONTRACT = ROOT / "docs" / "contract"

# API.md's table, restated here so a change to either side fails loudly.
STATUSES = {
    400: "invalid_body invalid_query_string field_required invalid_otp_format "
    "invalid_recovery_code_format invalid_phone_number method_not_found invalid_enrollment",
    401: "invalid_token invalid_bearer_format transaction_expired",
    403: "insufficient_scope invalid_otp invalid_recovery_code feature_disabled "
    "feature_disabled_by_admin enrollment_method_disabled auth_method_disabled "
    "no_method_available not_enrolled",
    404: "tenant_not_found login_transaction_not_found enrollment_transaction_not_found not_found",
    409: "enrollment_conflict already_enrolled",
    410: "pn_endpoint_disabled",
    429: "too_many_sms too_many_pn too_many_sms_per_tenant too_many_pn_per_tenant",
    500: "internal_error",
    502: "error_sending_sms error_sending_push_notification push_notification_wrong_credentials",
    503: "service_unavailable",
}


def test_exactly_the_36_codes_with_their_statuses() -> None:
    expected = {code: status for status, codes in STATUSES.items() for code in codes.split()}
    assert len(expected) == 36
    assert {c: s.status for c, s in CATALOGUE.items()} == expected


def test_upstream_codes_match_error_codes_md() -> None:
    text = (CONTRACT / "error-codes.md").read_text()
    upstream = set(re.findall(r"^([a-z_]+) \|", text, re.M))
    assert len(upstream) == 33
    assert upstream == {c for c, s in CATALOGUE.items() if s.upstream}


def test_every_entry_is_documented() -> None:
    for spec in CATALOGUE.values():
        for text in (spec.api_message, spec.user_message, spec.causes, spec.troubleshooting):
            assert len(text) > 10, spec.code
    assert CATALOGUE["field_required"].extra == "field"
    assert CATALOGUE["enrollment_method_disabled"].extra == "method"
    assert CATALOGUE["auth_method_disabled"].extra == "method"


def test_one_exception_class_per_code() -> None:
    assert set(ERROR_CLASSES) == set(CATALOGUE)
    classes = [
        obj
        for obj in vars(errors_module).values()
        if isinstance(obj, type) and issubclass(obj, MFAError) and hasattr(obj, "spec")
    ]
    assert len(classes) == len(CATALOGUE)


def test_base_class_is_never_raised() -> None:
    with pytest.raises(TypeError):
        MFAError("nope")


def test_body_carries_extra_fields() -> None:
    body = FieldRequired(field="otpCode").to_body()
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": CATALOGUE["field_required"].api_message,
        "errorCode": "field_required",
        "field": "otpCode",
    }
    assert InvalidOtp(method="otp").to_body()["errorCode"] == "invalid_otp"
    assert "method" not in InvalidOtp().to_body()
    assert TooManySms(retry_after=42).headers() == {"Retry-After": "42"}


def test_from_body_round_trip() -> None:
    err = from_body(400, FieldRequired(field="recoveryCode").to_body())
    assert isinstance(err, FieldRequired) and err.field == "recoveryCode"
    err = from_body(429, TooManySms().to_body(), {"retry-after": "7"})
    assert isinstance(err, TooManySms) and err.retry_after == 7
    assert from_body(502, "<html>").code == "service_unavailable"
    assert from_body(500, "<html>").code == "internal_error"


def test_catalogue_json_lists_every_code_once() -> None:
    data = catalogue_json()
    assert [d["code"] for d in data] == list(CATALOGUE)


def test_generated_docs_are_fresh() -> None:
    on_disk = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert on_disk == render_markdown(), "docs/errors.md is stale: run python -m mfa.catalogue"
