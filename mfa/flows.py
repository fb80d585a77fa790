"""Transactions: start-flow, transaction-state, verify-otp, recovery and SMS.

The factor protocol of :mod:`mfa.http.guardian`, without HTTP. Each call takes the
raw credential the browser sent and returns plain data or raises a catalogue error.

Hot path (verify-otp): decode the transaction token (HMAC), one ephemeral read,
TOTP in process, one atomic ``record_attempt`` — two ephemeral round trips and no
database read, because start-flow copied what the transaction needs (the sealed
seed, the enrolled methods) into it.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any, NoReturn

import anyio.to_thread

from mfa.delivery import SmsMessage
from mfa.errors import (
    AlreadyEnrolled,
    AuthMethodDisabled,
    EnrollmentConflict,
    EnrollmentMethodDisabled,
    EnrollmentTransactionNotFound,
    FeatureDisabledByAdmin,
    InvalidEnrollment,
    InvalidOtp,
    InvalidOtpFormat,
    InvalidPhoneNumber,
    InvalidRecoveryCode,
    InvalidRecoveryCodeFormat,
    InvalidToken,
    LoginTransactionNotFound,
    MFAError,
    NoMethodAvailable,
    NotEnrolled,
    TooManySms,
    TooManySmsPerTenant,
)
from mfa.factors import phone, recovery, totp
from mfa.names import Channel
from mfa.storage.base import (
    AttemptLimits,
    AttemptOutcome,
    Conflict,
    Enrollment,
    Tenant,
    Transaction,
)
from mfa.tokens import Credential

if TYPE_CHECKING:
    from mfa.service import MFAService

log = logging.getLogger("mfa.flows")

ENROLLABLE = ("otp", "sms", "push")
_DIGITS = re.compile(r"^[0-9]+$")


def _gone(kind: str) -> MFAError:
    if kind == "enroll":
        return EnrollmentTransactionNotFound()
    return LoginTransactionNotFound()


class Flows:
    def __init__(self, service: MFAService) -> None:
        self.service = service
        s = service.settings
        self.limits = AttemptLimits(
            per_transaction=s.otp_attempts_per_transaction,
            per_user=s.user_failed_attempts_limit,
            lockout_seconds=s.user_lockout_seconds,
        )

    # ------------------------------------------------------------------ views

    def authenticator_types(
        self, tenant: Tenant, methods: list[str], has_recovery: bool
    ) -> list[str]:
        types = [m for m in methods if self.service.factor_available(tenant, m)]
        if has_recovery and self.service.factor_available(tenant, "recovery-code"):
            types.append("recovery-code")
        return types

    def public_view(
        self,
        tenant: Tenant,
        enrollment_id: str,
        methods: list[str],
        *,
        has_recovery: bool,
        name: str | None = None,
        phone_masked: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": enrollment_id,
            "status": "confirmed",
            "methods": methods,
            "available_methods": methods,
            "available_authenticator_types": self.authenticator_types(
                tenant, methods, has_recovery
            ),
            "name": name,
            "phone_number": phone_masked,
        }

    # ------------------------------------------------------------------ start-flow

    async def start_flow(self, credential: Credential) -> dict[str, Any]:
        s = self.service
        if credential.kind == "ticket":
            ticket_key = "enroll:" + credential.value
            info = await s.ephemeral.peek_ticket(ticket_key)
            if info is None:
                raise InvalidToken("Unknown or already used enrollment ticket.")
        else:
            claims = s.codec.decode(credential.value, "request")
            ticket_key = "req:" + str(claims.get("jti"))
            info = {"tenant_id": claims.get("tid"), "user_id": claims.get("sub")}
        tenant_id, user_id = str(info["tenant_id"]), str(info["user_id"])
        tenant = await s.tenant(tenant_id)
        enrollment = await s.durable.get_user_enrollment(tenant_id, user_id)
        now = s.clock()
        txid = s.new_id("tx")
        ttl = s.settings.transaction_ttl_seconds
        if enrollment is None:
            tx, body = self._enrollment_tx(tenant, user_id, txid, now + ttl, credential.kind)
        else:
            if credential.kind == "ticket":
                raise AlreadyEnrolled()
            tx, body = self._login_tx(tenant, enrollment, txid, now + ttl)
        # The one-time credential is consumed last: a refusal above leaves it usable.
        if await s.ephemeral.take_ticket(ticket_key) is None:
            raise InvalidToken("This token already opened a transaction.")
        await s.ephemeral.create_transaction(tx)
        if tx.kind == "enroll":
            await s.ephemeral.put_ticket(
                "etx:" + tx.data["etx"], {"tenant_id": tenant_id, "txid": txid}, ttl
            )
        token_claims = {"tid": tenant_id, "sub": user_id, "txid": txid, "k": tx.kind}
        body["transaction_token"] = s.codec.issue("tx", token_claims, ttl)
        return body

    def _enrollment_tx(
        self, tenant: Tenant, user_id: str, txid: str, expires_at: float, via: str
    ) -> tuple[Transaction, dict[str, Any]]:
        s = self.service
        if via != "ticket" and not tenant.features.get("enrollment", True):
            # Tickets are the admin's invitations; the toggle governs self-service.
            raise FeatureDisabledByAdmin("Self-service enrollment is switched off.")
        methods = [f for f in ENROLLABLE if s.factor_available(tenant, f)]
        if not methods:
            raise NoMethodAvailable()
        eid = s.new_id("dev")
        secret = totp.new_secret()
        code = recovery.new_code()
        tid = tenant.tenant_id
        data = {
            "enrollment_id": eid,
            "otp_secret": s.b64(s.seal(tid, eid, "totp", secret)),
            "recovery_code": s.b64(s.seal(tid, eid, "recovery", code)),
            "etx": s.new_id("etx", 18),
        }
        tx = Transaction(txid, tid, user_id, "enroll", expires_at, data=data)
        body = {
            "enrollment_tx_id": data["etx"],
            "available_enrollment_methods": methods,
            "available_authentication_methods": methods,
            "factor_settings": {"phone": {"otp_length": tenant.sms_otp_length}},
            "device_account": {
                "id": eid,
                "status": "confirmation_pending",
                "otp_secret": secret,
                "recovery_code": code,
            },
        }
        return tx, body

    def _login_tx(
        self, tenant: Tenant, e: Enrollment, txid: str, expires_at: float
    ) -> tuple[Transaction, dict[str, Any]]:
        s = self.service
        methods = list(e.methods)
        has_recovery = e.recovery_code_hash is not None
        view = self.public_view(
            tenant,
            e.enrollment_id,
            methods,
            has_recovery=has_recovery,
            name=e.name,
            phone_masked=e.phone_masked,
        )
        if not view["available_authenticator_types"]:
            raise NoMethodAvailable()
        data: dict[str, Any] = {"enrollment_id": e.enrollment_id, "methods": methods}
        if e.totp_secret is not None:
            data["otp_secret"] = s.b64(e.totp_secret)
        if e.phone_number is not None:
            data["phone"] = s.b64(e.phone_number)
        tx = Transaction(
            txid, tenant.tenant_id, e.user_id, "auth", expires_at, enrollment=view, data=data
        )
        body = {
            "available_enrollment_methods": [
                f for f in ENROLLABLE if s.factor_available(tenant, f)
            ],
            "available_authentication_methods": [
                m for m in methods if s.factor_available(tenant, m)
            ],
            "factor_settings": {"phone": {"otp_length": tenant.sms_otp_length}},
            "device_account": view,
        }
        return tx, body

    # ------------------------------------------------------------------ state

    async def load(self, token: str) -> Transaction:
        """The live transaction a transaction token names."""
        claims = self.service.codec.decode(token, "tx")
        kind = str(claims.get("k"))
        tx = await self.service.ephemeral.get_transaction(str(claims["tid"]), str(claims["txid"]))
        if tx is None or tx.user_id != claims.get("sub"):
            raise _gone(kind)
        return tx

    async def load_pending(self, token: str) -> Transaction:
        tx = await self.load(token)
        if tx.state != "pending":
            raise _gone(tx.kind)  # finished: a transaction succeeds once
        return tx

    async def transaction_state(self, token: str) -> dict[str, Any]:
        tx = await self.load(token)
        body: dict[str, Any] = {"id": tx.txid, "state": tx.state, "enrollment": tx.enrollment}
        if tx.state == "accepted":
            body["token"] = tx.token
        return body

    # ------------------------------------------------------------------ codes

    def _require_factor(self, tenant: Tenant, tx: Transaction, factor: str) -> None:
        self.service.require_global(factor)
        if not self.service.factor_available(tenant, factor):
            if tx.kind == "enroll":
                raise EnrollmentMethodDisabled(method=factor)
            raise AuthMethodDisabled(method=factor)

    async def verify_otp(self, token: str, code: str) -> None:
        s = self.service
        tx = await self.load_pending(token)
        tenant = await s.tenant(tx.tenant_id)
        sms_hash = tx.data.get("sms_code")
        method = "sms" if sms_hash else "otp"
        self._require_factor(tenant, tx, method)
        length = int(tx.data.get("sms_length", 6)) if sms_hash else totp.DIGITS
        if len(code) != length or not _DIGITS.match(code):
            raise InvalidOtpFormat(f"The code must be {length} digits.")
        now = s.clock()
        eid = str(tx.data["enrollment_id"])
        replay_key: str | None = None
        step: int | None = None
        if sms_hash:
            ok = float(tx.data.get("sms_expires_at", 0)) > now and hmac.compare_digest(
                str(sms_hash), s.sms_code_hash(tx.txid, code)
            )
        elif "otp_secret" in tx.data:
            secret = s.unseal(tx.tenant_id, eid, "totp", s.unb64(tx.data["otp_secret"]))
            step = totp.matching_step(secret, code, now, s.settings.totp_valid_window)
            ok = step is not None
            replay_key = "totp:" + eid
        else:
            ok = False  # enrolled without TOTP and no SMS code sent: nothing can match
        if not ok:
            await self._fail(tx, InvalidOtp(method=method))
        extra: dict[str, Any] = {}
        created: str | None = None
        if tx.kind == "enroll":
            extra["enrollment"] = await self._confirm_enrollment(tenant, tx, method)
            created = eid
        outcome = await self._accept(tx, method, replay_key=replay_key, step=step, extra=extra)
        if outcome is not AttemptOutcome.ACCEPTED:
            if created is not None:
                await s.durable.delete_enrollment(tx.tenant_id, created)
            raise self._refusal(tx, outcome, InvalidOtp(method=method))

    async def _confirm_enrollment(
        self, tenant: Tenant, tx: Transaction, method: str
    ) -> dict[str, Any]:
        """Store the enrollment; the unique (tenant, user) rule decides races."""
        s = self.service
        eid = str(tx.data["enrollment_id"])
        code = s.unseal(tx.tenant_id, eid, "recovery", s.unb64(tx.data["recovery_code"]))
        recovery_hash = await anyio.to_thread.run_sync(s.hasher.hash, code)
        phone_blob = s.unb64(tx.data["phone"]) if method == "sms" else None
        masked = tx.data.get("phone_masked") if method == "sms" else None
        record = Enrollment(
            enrollment_id=eid,
            tenant_id=tx.tenant_id,
            user_id=tx.user_id,
            methods=(method,),
            totp_secret=s.unb64(tx.data["otp_secret"]) if method == "otp" else None,
            phone_number=phone_blob,
            phone_masked=masked,
            recovery_code_hash=recovery_hash,
        )
        try:
            await s.durable.create_enrollment(record)
        except Conflict:
            existing = await s.durable.get_user_enrollment(tx.tenant_id, tx.user_id)
            if existing is not None and existing.enrollment_id == eid:
                # The same transaction confirmed twice at once: the other request
                # won with this very code, so this one is a replay, not a conflict.
                raise InvalidOtp(method=method) from None
            raise EnrollmentConflict() from None
        return self.public_view(tenant, eid, [method], has_recovery=True, phone_masked=masked)

    async def _accept(
        self,
        tx: Transaction,
        method: str,
        *,
        replay_key: str | None = None,
        step: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> AttemptOutcome:
        """Record a right code and, in the same atomic step, accept the transaction
        with its result signature (unless the user is locked out, the step was
        replayed or the transaction ended meanwhile)."""
        s = self.service
        signature = s.sign_result(tx.tenant_id, tx.user_id, tx.txid, method)
        return await s.ephemeral.record_attempt(
            tx.tenant_id,
            tx.txid,
            tx.user_id,
            ok=True,
            limits=self.limits,
            replay_key=replay_key,
            replay_step=step,
            on_success={"state": "accepted", "token": signature, **(extra or {})},
        )

    async def _fail(self, tx: Transaction, error: MFAError) -> NoReturn:
        """Count a wrong code and raise ``error`` (or the transaction's end)."""
        outcome = await self.service.ephemeral.record_attempt(
            tx.tenant_id, tx.txid, tx.user_id, ok=False, limits=self.limits
        )
        raise self._refusal(tx, outcome, error)

    @staticmethod
    def _refusal(tx: Transaction, outcome: AttemptOutcome, error: MFAError) -> MFAError:
        if outcome is AttemptOutcome.GONE:
            return _gone(tx.kind)
        if outcome is AttemptOutcome.KILLED:
            error.message = "Too many wrong codes: this transaction has ended."
        elif outcome is AttemptOutcome.LOCKED:
            error.message = "Too many wrong codes for this user; try again later."
        return error

    # ------------------------------------------------------------------ recovery

    async def recover_account(self, token: str, code: str) -> str:
        s = self.service
        if not recovery.well_formed(code):
            raise InvalidRecoveryCodeFormat()
        tx = await self.load_pending(token)
        if tx.kind == "enroll":
            raise NotEnrolled()
        tenant = await s.tenant(tx.tenant_id)
        self._require_factor(tenant, tx, "recovery-code")
        eid = str(tx.data["enrollment_id"])
        enrollment = await s.durable.get_enrollment(tx.tenant_id, eid)
        if enrollment is None or enrollment.recovery_code_hash is None:
            raise NotEnrolled()
        old = enrollment.recovery_code_hash
        if not await anyio.to_thread.run_sync(s.hasher.verify, old, code):
            await self._fail(tx, InvalidRecoveryCode())
        fresh = recovery.new_code()
        fresh_hash = await anyio.to_thread.run_sync(s.hasher.hash, fresh)
        # Compare-and-set: of two requests racing with one code, one rotates it.
        if not await s.durable.swap_recovery_hash(tx.tenant_id, eid, old, fresh_hash):
            await self._fail(tx, InvalidRecoveryCode())
        outcome = await self._accept(tx, "recovery-code")
        if outcome is not AttemptOutcome.ACCEPTED:
            # Not accepted (locked out, or the transaction ended meanwhile): the user
            # keeps the code they have.
            await s.durable.swap_recovery_hash(tx.tenant_id, eid, fresh_hash, old)
            raise self._refusal(tx, outcome, InvalidRecoveryCode())
        return fresh

    # ------------------------------------------------------------------ SMS

    async def sms_enroll(self, token: str, enrollment_id: str, phone_number: str) -> None:
        s = self.service
        tx = await self.load_pending(token)
        if tx.kind != "enroll":
            raise AlreadyEnrolled()
        if enrollment_id != tx.data.get("enrollment_id"):
            raise InvalidEnrollment()
        tenant = await s.tenant(tx.tenant_id)
        self._require_factor(tenant, tx, "sms")
        e164 = phone.normalize(phone_number)
        sealed = s.seal(tx.tenant_id, enrollment_id, "phone", e164)
        await self._send_code(
            tenant, tx, e164, {"phone": s.b64(sealed), "phone_masked": phone.mask(e164)}
        )

    async def send_sms(self, token: str) -> None:
        s = self.service
        tx = await self.load_pending(token)
        if tx.kind == "enroll":
            raise NotEnrolled()
        tenant = await s.tenant(tx.tenant_id)
        self._require_factor(tenant, tx, "sms")
        if "sms" not in tx.data.get("methods", []) or "phone" not in tx.data:
            raise NotEnrolled("The user has not enrolled a phone for SMS.")
        eid = str(tx.data["enrollment_id"])
        e164 = s.unseal(tx.tenant_id, eid, "phone", s.unb64(tx.data["phone"]))
        await self._send_code(tenant, tx, e164, {})

    async def _send_code(
        self, tenant: Tenant, tx: Transaction, e164: str, extra: dict[str, Any]
    ) -> None:
        """Quota, then a fresh code in the transaction, then the send.

        Quota policy: a unit is given back only when the provider refused the number
        itself (nothing was sent). Other provider failures keep the unit: the
        message may have gone out, and refunding on ambiguous failures would let a
        flaky path be used to pump SMS past the quota.
        """
        s = self.service
        decision = await s.ephemeral.consume_quota(
            tx.tenant_id,
            tx.user_id,
            Channel.SMS,
            tenant.quotas["sms_per_user"],
            tenant.quotas["sms_per_tenant"],
        )
        if not decision.granted:
            cls = TooManySms if decision.refused == "user" else TooManySmsPerTenant
            raise cls(retry_after=decision.retry_after)
        length = tenant.sms_otp_length
        code = "".join(secrets.choice("0123456789") for _ in range(length))
        changes = {
            **extra,
            "sms_code": s.sms_code_hash(tx.txid, code),
            "sms_length": length,
            "sms_expires_at": s.clock() + s.settings.sms_code_ttl_seconds,
        }
        if not await s.ephemeral.update_transaction(tx.tenant_id, tx.txid, data=changes):
            await s.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.SMS)
            raise _gone(tx.kind)
        message = SmsMessage(
            to=e164,
            body=f"{code} is your verification code for {tenant.name}.",
            code=code,
            tenant_id=tx.tenant_id,
        )
        try:
            await s.sms.send(message)
        except InvalidPhoneNumber:
            await s.ephemeral.refund_quota(tx.tenant_id, tx.user_id, Channel.SMS)
            raise
