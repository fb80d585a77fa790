"""The error catalogue: the single source of truth for every error mfa answers with.

Each entry documents one code the way mature account-connection APIs do: what the
API says (for developers), what the end user may be shown (a template with
``{placeholders}``), why it usually happens, and what to do about it. The
exception classes (:mod:`mfa.errors`), the JSON error body, ``GET /api/errors``,
the Python client's exceptions and ``docs/errors.md`` are all derived from
:data:`CATALOGUE`; nothing else may invent an error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

Extra = Literal["field", "method"]
# The kind of failure, named after its abstract class in mfa.errors, so a host can
# catch a family (``except QuotaExceeded``) instead of listing codes.
Family = Literal[
    "TokenError",
    "AccessDenied",
    "ResourceNotFound",
    "TransactionGone",
    "EnrollmentError",
    "WrongCode",
    "InvalidInput",
    "DeliveryFailed",
    "QuotaExceeded",
    "MethodUnavailable",
    "ServerError",
]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int
    api_message: str
    user_message: str
    causes: str
    troubleshooting: str
    family: Family
    # How to provoke the code in a sandbox tenant (mfa.sandbox): a magic input, a
    # fixed code, or the ordinary misuse that causes it anywhere.
    sandbox: str
    extra: Extra | None = None
    upstream: bool = True  # False for the three operational codes mfa adds

    @property
    def reason(self) -> str:
        """The HTTP reason phrase, sent as the body's ``error``."""
        return HTTPStatus(self.status).phrase


_ENTRIES: tuple[ErrorSpec, ...] = (
    # --- tokens and authorization -------------------------------------------------
    ErrorSpec(
        "invalid_token",
        401,
        "The request or transaction token is not valid.",
        "This sign-in link is no longer valid. Please start again.",
        "A token whose signature does not check out, a malformed JWT, an unknown or "
        "revoked API key, a token of the wrong kind (a request token used where a "
        "transaction token belongs), an enrollment ticket that is unknown or already "
        "used, or a device signature that does not verify.",
        "Start a new transaction with a fresh request token. If it keeps happening, "
        "check that every worker shares the same MFA_SIGNING_KEYS and that the API key "
        "has not been revoked.",
        sandbox=(
            "Ordinary misuse: send `Authorization: Bearer not-a-token` to any transaction "
            "route (verify-otp, transaction-state)."
        ),
        family="TokenError",
    ),
    ErrorSpec(
        "insufficient_scope",
        403,
        "The credentials do not grant the requested operation.",
        "You are not allowed to do this.",
        "An API key without the scope the route needs, or a key of one tenant used on "
        "another tenant's resources.",
        "Create a key with the needed scope (listed in the API reference for the "
        "route) for the tenant you are calling, or use the operator key.",
        sandbox=(
            "Ordinary misuse: create a key of the tenant with only `transactions:create` "
            "and read the quotas with it (GET /api/tenants/{tid}/quotas)."
        ),
        family="AccessDenied",
    ),
    ErrorSpec(
        "invalid_bearer_format",
        401,
        "The Authorization header is missing or not in a recognised format.",
        "Something went wrong while signing you in. Please try again.",
        "No Authorization header, a scheme other than `Bearer <token>` or "
        '`Ticket id="<ticket>"`, or the wrong kind of credential for the route.',
        'Send `Authorization: Bearer <token>` (or `Ticket id="…"` to start-flow and '
        "device enroll). Check that a proxy does not strip the header.",
        sandbox=(
            "Ordinary misuse: call any backend or transaction route without an "
            "Authorization header."
        ),
        family="TokenError",
    ),
    ErrorSpec(
        "tenant_not_found",
        404,
        "The tenant named by the token or path does not exist.",
        "This service is not available for {tenant_name} right now.",
        "The tenant was deleted after the token was issued, or the path names a "
        "tenant id that was never created.",
        "List tenants with `mfa tenants list` and check the id; issue new tokens "
        "after re-creating a deleted tenant.",
        sandbox=("Ordinary misuse: GET /api/tenants/{tid} for a tenant id that was never created."),
        family="ResourceNotFound",
    ),
    # --- transactions -------------------------------------------------------------
    ErrorSpec(
        "login_transaction_not_found",
        404,
        "The authentication transaction is not active: finished, killed or expired.",
        "Your sign-in attempt has ended. Please start again.",
        "The transaction already succeeded, was ended after too many wrong codes, or "
        "its state expired from the ephemeral store.",
        "Start a new transaction. Frequent occurrences with a valid token can mean "
        "Redis evicts keys: set a `noeviction` policy.",
        sandbox=(
            "Complete a login (verify-otp with the fixed code `000000`), then send "
            "verify-otp again with the same transaction token."
        ),
        family="TransactionGone",
    ),
    ErrorSpec(
        "enrollment_transaction_not_found",
        404,
        "The enrollment transaction is not active: finished, killed or expired.",
        "Your enrollment attempt has ended. Please start again.",
        "The enrollment was already confirmed, ended after too many wrong codes, or "
        "its state expired; or a device enroll used an unknown enrollment ticket.",
        "Start enrollment again from the beginning; scan a fresh QR code on the phone.",
        sandbox=(
            "Confirm an enrollment (verify-otp with the fixed code `000000`), then send "
            "verify-otp again with the same transaction token."
        ),
        family="TransactionGone",
    ),
    ErrorSpec(
        "transaction_expired",
        401,
        "The token is well signed but past its expiry.",
        "You took too long. Please start again.",
        "The user left the page open past the transaction lifetime "
        "(MFA_TRANSACTION_TTL_SECONDS), or server clocks disagree.",
        "Start a new transaction. Check NTP on all workers if it happens right after "
        "issuing a token.",
        sandbox=(
            "Wait MFA_TRANSACTION_TTL_SECONDS after start-flow, then call transaction-state "
            "with its transaction token."
        ),
        family="TokenError",
    ),
    ErrorSpec(
        "enrollment_conflict",
        409,
        "Another enrollment of the same user completed first.",
        "You already finished setting up a second factor in another window.",
        "Two enrollment transactions of one user raced; the one that confirmed second "
        "loses and nothing of it is stored.",
        "Sign in with the factor enrolled in the other window, or reset the user's "
        "enrollments through the backend API and enroll again.",
        sandbox=(
            "Open two start-flows for one new user (two request tokens), confirm one with "
            "`000000`, then confirm the other with `000000`."
        ),
        family="EnrollmentError",
    ),
    ErrorSpec(
        "already_enrolled",
        409,
        "The user already has a confirmed enrollment.",
        "You have already set up a second factor.",
        "An enrollment was attempted for a user who is enrolled.",
        "Authenticate instead, or delete the enrollment through the backend API "
        "(DELETE /api/tenants/{tid}/enrollments/{eid}) before enrolling again.",
        sandbox=(
            "Enroll a user, then open start-flow for that user with an enrollment ticket "
            "(POST /api/tenants/{tid}/enrollment-tickets)."
        ),
        family="EnrollmentError",
    ),
    ErrorSpec(
        "not_enrolled",
        403,
        "The user has no enrollment to authenticate with.",
        "You have not set up a second factor yet.",
        "An authentication call for a user with no confirmed enrollment, or one whose "
        "enrollment was deleted during the transaction.",
        "Send the user through enrollment first (a start-flow with an enrollment "
        "ticket or a request token for a not-enrolled user).",
        sandbox=(
            "On a new user's enrollment transaction, call send-sms before any phone is enrolled."
        ),
        family="EnrollmentError",
    ),
    ErrorSpec(
        "invalid_enrollment",
        400,
        "The enrollment named in the path is not the caller's.",
        "Something went wrong with your device. Please start again.",
        "A `device-accounts/{id}` path whose id is not the enrollment of the "
        "transaction or device that calls.",
        "Use the `device_account.id` returned by start-flow of the same transaction.",
        sandbox=(
            "On an enrollment transaction, POST /api/device-accounts/{id}/sms-enroll with "
            "an id other than start-flow's `device_account.id`."
        ),
        family="EnrollmentError",
    ),
    # --- codes --------------------------------------------------------------------
    ErrorSpec(
        "invalid_otp",
        403,
        "The one-time code is not valid.",
        "That code is not right. Check your {method} code and try again.",
        "A mistyped code, a code already used in this 30-second step, a code from a "
        "clock far off, or a user locked out after too many wrong codes.",
        "Let the user retry with the next code. If codes from an authenticator app "
        "always fail, check the phone's clock. After the attempt limit the "
        "transaction ends and a new one must be started.",
        sandbox=(
            "verify-otp with the fixed code that always fails: all nines (`999999`, or as "
            "many nines as the tenant's SMS code length after an SMS)."
        ),
        family="WrongCode",
    ),
    ErrorSpec(
        "invalid_recovery_code",
        403,
        "The recovery code is not valid.",
        "That recovery code is not right.",
        "A mistyped or already rotated recovery code, or a user locked out after too "
        "many wrong codes.",
        "Use the newest recovery code (each use replaces it). An admin can generate a "
        "new one through the backend API.",
        sandbox=(
            "On a login transaction, recover-account with 24 letters and digits that are "
            "not the user's code, e.g. `AAAAAAAAAAAAAAAAAAAAAAAA`."
        ),
        family="WrongCode",
    ),
    ErrorSpec(
        "invalid_otp_format",
        400,
        "The one-time code is not digits of the expected length.",
        "Codes are {length} digits long.",
        "Letters, spaces or the wrong number of digits in `code`.",
        "Send only the digits: 6 for authenticator apps, "
        "`factor_settings.phone.otp_length` for SMS.",
        sandbox=("Ordinary misuse: verify-otp with `12ab56`."),
        family="InvalidInput",
    ),
    ErrorSpec(
        "invalid_recovery_code_format",
        400,
        "The recovery code is not 24 letters and digits.",
        "Recovery codes are 24 letters and digits.",
        "Separators, spaces or the wrong length in `recovery_code`.",
        "Send the 24 alphanumerics exactly as they were shown.",
        sandbox=("Ordinary misuse: recover-account with `abc`."),
        family="InvalidInput",
    ),
    ErrorSpec(
        "field_required",
        400,
        "A required field is missing.",
        "Please fill in the {field}.",
        "The request body lacks the field named in `field` (`otpCode`, "
        "`recoveryCode`, `phoneNumber`, or a backend field name).",
        "Send the field named in the error's `field` attribute.",
        extra="field",
        sandbox=("Ordinary misuse: verify-otp with the body `{}`."),
        family="InvalidInput",
    ),
    # --- request shape ------------------------------------------------------------
    ErrorSpec(
        "invalid_body",
        400,
        "The request body failed validation.",
        "Something went wrong. Please try again.",
        "Malformed JSON, a JSON value that is not an object, a wrong Content-Type, a "
        "body over the size limit, unknown fields or fields of the wrong type.",
        "Send a JSON object with `Content-Type: application/json` and only the "
        "documented fields; see GET /api/openapi.json.",
        sandbox=(
            "Ordinary misuse: POST `{` with `Content-Type: application/json` to any route "
            "that takes a body."
        ),
        family="InvalidInput",
    ),
    ErrorSpec(
        "invalid_query_string",
        400,
        "The query string failed validation.",
        "Something went wrong. Please try again.",
        "A query parameter the route does not take, or one of the wrong type.",
        "Remove the parameter; the routes document the few they accept.",
        sandbox=("Ordinary misuse: add `?x=1` to any route."),
        family="InvalidInput",
    ),
    # --- phones and delivery ------------------------------------------------------
    ErrorSpec(
        "invalid_phone_number",
        400,
        "The phone number is not a valid mobile number.",
        "We cannot send text messages to that number. Please check it.",
        "Not in E.164 form (+ country code and number), not a mobile number, or "
        "rejected by the SMS provider as unroutable or a landline.",
        "Ask the user for a mobile number with its country code, e.g. +14155550123.",
        sandbox=(
            "sms-enroll the phone number `+14155550101`: it passes the input check and the "
            "sandbox provider refuses it (the quota unit comes back). A number without its "
            "`+` country code is refused before any send."
        ),
        family="InvalidInput",
    ),
    ErrorSpec(
        "error_sending_sms",
        502,
        "The SMS provider failed or refused to deliver the message.",
        "We could not send you a text message. Please try again later.",
        "Provider outage or timeout, wrong provider credentials, a number that "
        "blocked messages, geographic permissions or fraud filters at the provider.",
        "Check the service log: credential problems are logged for the operator. "
        "Check the provider's console for geo permissions and account balance.",
        sandbox=(
            "sms-enroll (or send-sms to) the phone number `+14155550102`: the sandbox "
            "provider fails to deliver."
        ),
        family="DeliveryFailed",
    ),
    ErrorSpec(
        "error_sending_push_notification",
        502,
        "The push provider failed to deliver the notification.",
        "We could not reach your phone. Please try again.",
        "APNs/FCM outage, timeout or refusal.",
        "Retry; check the provider status and the service log.",
        sandbox=(
            "Enroll a phone with the push token `sandbox-error-sending-push` (or PATCH it "
            "in), then send-push-notification."
        ),
        family="DeliveryFailed",
    ),
    ErrorSpec(
        "push_notification_wrong_credentials",
        502,
        "The push provider rejected the service's credentials.",
        "We could not reach your phone. Please try again later.",
        "Expired or wrong APNs key / FCM service account in the configuration.",
        "Operator: renew the push credentials in the configuration.",
        sandbox=(
            "Enroll a phone with the push token `sandbox-push-wrong-credentials` (or PATCH "
            "it in), then send-push-notification."
        ),
        family="DeliveryFailed",
    ),
    ErrorSpec(
        "pn_endpoint_disabled",
        410,
        "The device's push token is no longer valid.",
        "We cannot reach your phone any more. Remove the account from the app and add it again.",
        "The app was uninstalled or its push token was rotated; the provider "
        "rejected it after retries.",
        "Have the user re-enroll the phone, or re-register the push token with "
        "PATCH /api/device-accounts/{id}.",
        sandbox=(
            "Enroll a phone with the push token `sandbox-pn-endpoint-disabled` (or PATCH it "
            "in), then send-push-notification; the enrollment then shows its push endpoint "
            "disabled until the phone PATCHes another token."
        ),
        family="DeliveryFailed",
    ),
    # --- quotas -------------------------------------------------------------------
    ErrorSpec(
        "too_many_sms",
        429,
        "The user's SMS quota is used up for now.",
        "You have asked for too many text messages. Try again in {retry_after} seconds.",
        "More sends for one user than `sms_per_user` allows in its window.",
        "Wait for `Retry-After` seconds; the tenant admin can raise the quota.",
        sandbox=(
            "Set `sms_per_user` to limit 1 (PUT /api/tenants/{tid}/quotas), then send two "
            "SMS codes to one user."
        ),
        family="QuotaExceeded",
    ),
    ErrorSpec(
        "too_many_pn",
        429,
        "The user's push notification quota is used up for now.",
        "You have asked for too many notifications. Try again in {retry_after} seconds.",
        "More pushes for one user than `pn_per_user` allows in its window.",
        "Wait for `Retry-After` seconds; the tenant admin can raise the quota.",
        sandbox=(
            "Set `pn_per_user` to limit 1 (PUT /api/tenants/{tid}/quotas), then send two "
            "pushes to one user."
        ),
        family="QuotaExceeded",
    ),
    ErrorSpec(
        "too_many_sms_per_tenant",
        429,
        "The tenant's SMS quota is used up for now.",
        "{tenant_name} cannot send more text messages right now. Try another method.",
        "The whole tenant sent more SMS than `sms_per_tenant` allows in its window; "
        "possibly SMS pumping fraud.",
        "Look for abuse before raising the quota; offer TOTP or push meanwhile.",
        sandbox=(
            "Set `sms_per_tenant` to limit 1 (PUT /api/tenants/{tid}/quotas), then send two "
            "SMS codes."
        ),
        family="QuotaExceeded",
    ),
    ErrorSpec(
        "too_many_pn_per_tenant",
        429,
        "The tenant's push notification quota is used up for now.",
        "{tenant_name} cannot send more notifications right now. Try another method.",
        "The whole tenant sent more pushes than `pn_per_tenant` allows in its window.",
        "Raise the tenant quota if the volume is legitimate.",
        sandbox=(
            "Set `pn_per_tenant` to limit 1 (PUT /api/tenants/{tid}/quotas), then send two pushes."
        ),
        family="QuotaExceeded",
    ),
    # --- toggles ------------------------------------------------------------------
    ErrorSpec(
        "feature_disabled",
        403,
        "The feature is switched off for the whole deployment.",
        "This option is not available.",
        "The operator listed the factor in MFA_DISABLED_FACTORS.",
        "Operator: remove it from MFA_DISABLED_FACTORS. Tenants cannot change this.",
        sandbox=(
            "A deployment setting, not a tenant one: on a service whose "
            "MFA_DISABLED_FACTORS lists `sms`, PUT /api/tenants/{tid}/factors/sms with "
            '`{"enabled": true}`.'
        ),
        family="MethodUnavailable",
    ),
    ErrorSpec(
        "feature_disabled_by_admin",
        403,
        "The tenant admin switched this feature off.",
        "{tenant_name} has turned this option off.",
        "The tenant feature `enrollment` (self-service enrollment) or "
        "`device_management` (renaming or deleting devices) is off.",
        'Tenant admin: PUT /api/tenants/{tid}/features/{name} with {"enabled": true}.',
        sandbox=(
            'PUT /api/tenants/{tid}/features/enrollment with `{"enabled": false}`, then '
            "start-flow with a request token for a new user."
        ),
        family="MethodUnavailable",
    ),
    ErrorSpec(
        "enrollment_method_disabled",
        403,
        "The tenant switched off enrollment with this factor.",
        "{tenant_name} does not allow setting up {method}.",
        "The tenant admin disabled the factor named in `method`.",
        "Enroll with one of `available_enrollment_methods`, or enable the factor.",
        extra="method",
        sandbox=(
            'PUT /api/tenants/{tid}/factors/sms with `{"enabled": false}`, then sms-enroll '
            "on a new user's enrollment transaction."
        ),
        family="MethodUnavailable",
    ),
    ErrorSpec(
        "auth_method_disabled",
        403,
        "The tenant switched off authentication with this factor.",
        "{tenant_name} does not allow signing in with {method}.",
        "The tenant admin disabled the factor named in `method`.",
        "Use another of the user's factors, or enable the factor.",
        extra="method",
        sandbox=(
            "Enroll a user, open a login, PUT /api/tenants/{tid}/factors/otp with "
            '`{"enabled": false}`, then verify-otp on the login.'
        ),
        family="MethodUnavailable",
    ),
    ErrorSpec(
        "no_method_available",
        403,
        "No factor is left to enroll or authenticate with.",
        "There is no way to set up or use a second factor right now.",
        "Every factor is switched off by the tenant or the operator, or none of the "
        "user's enrolled factors is still enabled.",
        "Enable at least one factor for the tenant.",
        sandbox=(
            "Switch `otp`, `sms` and `push` off (PUT /api/tenants/{tid}/factors/{name}), "
            "then start-flow for a new user."
        ),
        family="MethodUnavailable",
    ),
    ErrorSpec(
        "method_not_found",
        400,
        "The factor name is not one mfa knows.",
        "This option is not available.",
        "A factor other than `otp`, `sms`, `push`, `recovery-code` in a path or body.",
        "Use one of the four factor names.",
        sandbox=("Ordinary misuse: PUT /api/tenants/{tid}/factors/email."),
        family="MethodUnavailable",
    ),
    # --- operational codes of our own ----------------------------------------------
    ErrorSpec(
        "not_found",
        404,
        "No such route, or the route does not take this HTTP method.",
        "Something went wrong. Please try again.",
        "A wrong path or prefix (the app is mounted somewhere else), or a wrong "
        "method on a known path (then the status is 405 with an `Allow` header).",
        "Check the mount prefix and GET /api/openapi.json for the routes.",
        upstream=False,
        sandbox=("Ordinary misuse: GET /api/no-such-route."),
        family="ResourceNotFound",
    ),
    ErrorSpec(
        "internal_error",
        500,
        "An unexpected error occurred; it has been logged.",
        "Something went wrong on our side. Please try again.",
        "A bug in mfa. The body holds no internals; the log holds the trace under "
        "the response's X-Request-Id.",
        "Find the X-Request-Id in the service log and report the trace.",
        upstream=False,
        sandbox=(
            "sms-enroll (or send-sms to) the phone number `+14155550104`: the sandbox "
            "provider fails the way a bug would."
        ),
        family="ServerError",
    ),
    ErrorSpec(
        "service_unavailable",
        503,
        "A backend (Redis or the database) cannot be reached or timed out.",
        "The service is busy. Please try again in a moment.",
        "Redis or the database is down, overloaded or unreachable; nothing was "
        "changed by the failed request.",
        "Retry after `Retry-After` seconds; check /readyz and the backends. The "
        "service resumes by itself when they return.",
        upstream=False,
        sandbox=(
            "sms-enroll (or send-sms to) the phone number `+14155550103`: the sandbox "
            "answers as if Redis or the database were down."
        ),
        family="ServerError",
    ),
)

CATALOGUE: dict[str, ErrorSpec] = {spec.code: spec for spec in _ENTRIES}
assert len(CATALOGUE) == len(_ENTRIES), "duplicate code in the catalogue"


def catalogue_json() -> list[dict[str, object]]:
    """The catalogue as served by ``GET /api/errors``."""
    return [
        {
            "code": s.code,
            "status": s.status,
            "api_message": s.api_message,
            "user_message": s.user_message,
            "causes": s.causes,
            "troubleshooting": s.troubleshooting,
            "family": s.family,
            "extra": s.extra,
            "upstream": s.upstream,
            "sandbox": s.sandbox,
        }
        for s in _ENTRIES
    ]


def render_markdown() -> str:
    """``docs/errors.md``, regenerated by ``python -m mfa.catalogue``."""
    lines = [
        "# Error reference",
        "",
        "<!-- Generated from mfa/catalogue.py by `python -m mfa.catalogue`; do not edit. -->",
        "",
        "Every non-2xx response of mfa has the JSON body",
        '`{"statusCode", "error", "message", "errorCode"}` — plus `field` or `method`',
        "where noted — and an `X-Request-Id` header; 429 and 503 also carry",
        "`Retry-After`. `errorCode` is always one of the codes below.",
        "",
        "Each code belongs to one family, an abstract exception class of `mfa.errors`",
        "that catches all its codes (`except QuotaExceeded:`).",
        "",
        "Each code also says how to reproduce it in a **sandbox tenant** (created with",
        '`"sandbox": true`): no SMS or push leaves the service — messages wait in the',
        "sandbox outbox, `GET /api/tenants/{tid}/sandbox/messages/{phone number or push",
        "token}` — and documented magic inputs answer with their code. In a sandbox",
        "tenant only, a code of all zeros (`000000`) always passes verify-otp and a code",
        "of all nines (`999999`) always fails; other tenants treat them as any code.",
        "",
        "| code | status | family | extra |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| [`{s.code}`](#{s.code}) | {s.status} | `{s.family}` "
        f"| {f'`{s.extra}`' if s.extra else ''} |"
        for s in _ENTRIES
    ]
    for s in _ENTRIES:
        lines += [
            "",
            f"## {s.code}",
            "",
            f"**HTTP {s.status} {s.reason}**"
            + ("" if s.upstream else " · operational code of mfa"),
            "",
            f"- **API message:** {s.api_message}",
            f"- **User message:** {s.user_message}",
            f"- **Common causes:** {s.causes}",
            f"- **Troubleshooting:** {s.troubleshooting}",
            f"- **In a sandbox tenant:** {s.sandbox}",
        ]
        if s.extra:
            lines.append(f"- **Extra field:** `{s.extra}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import pathlib

    target = pathlib.Path(__file__).resolve().parent.parent / "docs" / "errors.md"
    target.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {target}")
