"""The phone's side of push: enroll a device, then rename, re-register or remove it.

``/api/enroll`` takes the ``enrollment_tx_id`` the browser got at start-flow
(guardian-wire §3.1) as its ticket, stores the device's public key, name and
push credentials, confirms the enrollment for push and TOTP (the same seed the
browser shows), and shows the enrollment on the still-pending transaction: a
push enrollment asks for a push login next.

``/api/device-accounts/{id}`` (§3.3, §3.4) is authenticated by the phone's device
token (``<enrollment id>.<secret>``, returned by enroll) or by a JWT the device
signs (``iss`` = enrollment id, ``sub`` = user id).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt

from mfa.context import Context
from mfa.errors import (
    EnrollmentConflict,
    EnrollmentTransactionNotFound,
    FeatureDisabledByAdmin,
    InvalidEnrollment,
    InvalidToken,
)
from mfa.events.record import Event, EventType
from mfa.factors import device_keys
from mfa.flows._common import confirmed_enrollment, require_factor
from mfa.flows.records import PhoneEnrollment, RegisteredDevice
from mfa.names import Factor, Feature, TxKind, TxState
from mfa.sealing import unb64
from mfa.storage.base import BackendUnavailable, Conflict, Enrollment
from mfa.tokens import Credential

PUSH_METHODS = (Factor.PUSH.value, Factor.OTP.value)
# Device JWTs live iat + 7200 s on the SDKs (§3.3); a little more for clock skew.
DEVICE_JWT_MAX_LIFETIME = 7200.0 + 300.0


@dataclass(frozen=True, slots=True)
class Device:
    """What a phone says about itself at enrollment or in a PATCH."""

    identifier: str | None = None
    name: str | None = None
    push_service: str | None = None
    push_token: str | None = None
    set_push: bool = False  # push_credentials was in the request
    public_key: dict[str, Any] | None = None


async def enroll(ctx: Context, ticket: str, device: Device, service_url: str) -> PhoneEnrollment:
    info = await ctx.ephemeral.peek_ticket("etx:" + ticket)
    if info is None:
        raise EnrollmentTransactionNotFound("Unknown, expired or used enrollment ticket.")
    tenant_id, txid = str(info["tenant_id"]), str(info["txid"])
    tx = await ctx.ephemeral.get_transaction(tenant_id, txid)
    if (
        tx is None
        or tx.kind != TxKind.ENROLL.value
        or tx.state != TxState.PENDING.value
        or tx.data.get("enrolled")
        or tx.expires_at <= ctx.clock()  # the store's TTL may lag our clock by a second
    ):
        raise EnrollmentTransactionNotFound("Unknown, expired or used enrollment ticket.")
    tenant = await ctx.tenants.get(tenant_id)
    require_factor(ctx, tenant, tx, Factor.PUSH)
    assert device.public_key is not None and device.identifier is not None
    device_keys.public_key(device.public_key)  # refuse a bad key before anything is written
    eid = str(tx.data["enrollment_id"])
    code = ctx.sealer.unseal_text(tenant_id, eid, "recovery", tx.data["recovery_code"])
    recovery_hash = await ctx.hasher.hash_async(code)  # bounded to the cores
    device_token = f"{eid}.{device_keys.new_device_token()}"
    record = Enrollment(
        enrollment_id=eid,
        tenant_id=tenant_id,
        user_id=tx.user_id,
        methods=PUSH_METHODS,
        totp_secret=unb64(tx.data["otp_secret"]),  # sealed at start-flow, kept sealed
        recovery_code_hash=recovery_hash,
        name=device.name,
        device_identifier=device.identifier,
        device_public_key=device_keys.stored_jwk(device.public_key),
        push_service=device.push_service,
        push_token=_seal_push(ctx, tenant_id, eid, device.push_token),
        device_token_hash=device_keys.device_token_hash(device_token),
    )
    # Two stores, one outcome. The SQL insert decides (its unique user and id rules
    # make a second phone racing on this ticket lose with enrollment_conflict);
    # then the transaction shows the enrollment, which is also what spends the
    # ticket (an enrolled transaction is refused above). If that Redis write
    # fails, the insert is undone, so the store is back to the old state: not
    # enrolled, ticket still usable.
    try:
        await ctx.durable.create_enrollment(record)
    except Conflict:
        raise EnrollmentConflict() from None
    account = confirmed_enrollment(
        ctx, tenant, eid, list(PUSH_METHODS), has_recovery=True, name=device.name
    )
    changes = {"enrolled": True, "methods": list(PUSH_METHODS)}
    try:
        shown = await ctx.ephemeral.update_transaction(
            tenant_id, txid, enrollment=account.stored(), data=changes
        )
    except BackendUnavailable:
        await ctx.durable.delete_enrollment(tenant_id, eid)
        raise
    if not shown:  # the transaction expired meanwhile
        await ctx.durable.delete_enrollment(tenant_id, eid)
        raise EnrollmentTransactionNotFound()
    confirmed = ctx.events.make(
        tenant_id,
        EventType.ENROLLMENT_CONFIRMED,
        user_id=tx.user_id,
        enrollment_id=eid,
        method=Factor.PUSH.value,
        outcome="accepted",
    )
    await ctx.events.record(confirmed)
    # Only tidying: the transaction already refuses this ticket.
    with contextlib.suppress(BackendUnavailable):
        await ctx.ephemeral.take_ticket("etx:" + ticket)
    return PhoneEnrollment(
        enrollment_id=eid,
        service_url=service_url,
        issuer=tenant.name,
        user_id=tx.user_id,
        device_token=device_token,
        otp_secret=ctx.sealer.unseal_text(tenant_id, eid, "totp", tx.data["otp_secret"]),
    )


async def update_device(
    ctx: Context,
    credential: Credential,
    enrollment_id: str,
    device: Device,
    audiences: Collection[str],
) -> RegisteredDevice:
    e = await _caller(ctx, credential, enrollment_id, audiences)
    changes: dict[str, Any] = {}
    if device.identifier is not None:
        changes["device_identifier"] = device.identifier
    if device.name is not None:
        changes["name"] = device.name
    if device.set_push:
        changes["push_service"] = device.push_service
        changes["push_token"] = _seal_push(ctx, e.tenant_id, e.enrollment_id, device.push_token)
        if device.push_token is not None:
            # A new token is the phone re-registering: the endpoint may work again.
            changes.update(status="confirmed", pn_disabled_at=None, pn_disabled_reason=None)
    if changes:
        updated = await ctx.durable.update_enrollment(e.tenant_id, e.enrollment_id, changes)
        if updated is None:
            raise InvalidEnrollment()
        e = updated
        # The names of what changed, never the values (a push token is a secret).
        changed = sorted(k for k in changes if not k.startswith("pn_disabled"))
        await ctx.events.record(_device_event(ctx, e, EventType.ENROLLMENT_UPDATED, changed))
    token = (
        ctx.sealer.unseal(e.tenant_id, e.enrollment_id, "push", e.push_token)
        if e.push_token is not None
        else None
    )
    return RegisteredDevice(e.enrollment_id, e.device_identifier, e.name, e.push_service, token)


async def delete_device(
    ctx: Context, credential: Credential, enrollment_id: str, audiences: Collection[str]
) -> None:
    e = await _caller(ctx, credential, enrollment_id, audiences)
    if not await ctx.durable.delete_enrollment(e.tenant_id, e.enrollment_id):
        raise InvalidEnrollment()
    await ctx.events.record(_device_event(ctx, e, EventType.ENROLLMENT_DELETED, None))


def _device_event(ctx: Context, e: Enrollment, type: EventType, changed: list[str] | None) -> Event:
    """An event the phone caused on its own enrollment."""
    return ctx.events.make(
        e.tenant_id,
        type,
        user_id=e.user_id,
        enrollment_id=e.enrollment_id,
        method=Factor.PUSH.value,
        outcome="by_device",
        data={"changed": changed} if changed else {},
    )


async def _caller(
    ctx: Context, credential: Credential, enrollment_id: str, audiences: Collection[str]
) -> Enrollment:
    """The caller's own enrollment: authenticated, allowed, and the one in the path."""
    value = credential.value
    if credential.kind != "bearer":
        raise InvalidToken("Device calls take the device token or a device JWT as Bearer.")
    if value.count(".") == 2:  # a JWT the device signed
        e = await _find(ctx, _unverified_issuer(value))
        device_keys.verify(
            value,
            e.device_public_key or {},
            issuer=e.enrollment_id,
            audiences=audiences,
            now=ctx.clock(),
            max_lifetime=DEVICE_JWT_MAX_LIFETIME,
            subject=e.user_id,
        )
    else:
        e = await _find(ctx, value.partition(".")[0])
        if not device_keys.device_token_matches(value, e.device_token_hash):
            raise InvalidToken("Unknown device token.")
    tenant = await ctx.tenants.get(e.tenant_id)
    if not tenant.features.get(Feature.DEVICE_MANAGEMENT, True):
        raise FeatureDisabledByAdmin("Device management is switched off by the tenant admin.")
    if enrollment_id != e.enrollment_id:
        raise InvalidEnrollment("This device account is not yours.")
    return e


async def _find(ctx: Context, enrollment_id: str) -> Enrollment:
    e = await ctx.durable.find_enrollment(enrollment_id) if enrollment_id else None
    if e is None or e.device_public_key is None:
        raise InvalidToken("Unknown device.")
    return e


def _unverified_issuer(token: str) -> str:
    """The ``iss`` claim, read only to find which key to verify with."""
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise InvalidToken("The device token is not a well-formed JWT.") from None
    return iss if isinstance(iss, str) else ""


def _seal_push(ctx: Context, tenant_id: str, eid: str, token: str | None) -> bytes | None:
    return None if token is None else ctx.sealer.seal(tenant_id, eid, "push", token)
