"""Token codec (kinds, expiry, rotation), Authorization parsing, settings from the environment."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.exceptions import InvalidTag

from mfa.errors import InvalidBearerFormat, InvalidToken, TransactionExpired
from mfa.keys import EncryptionKeys, SigningKeys, generate_encryption_key, generate_signing_jwk
from mfa.settings import Settings, SettingsError
from mfa.testing import FrozenClock
from mfa.tokens import TokenCodec, parse_authorization


def test_parse_authorization() -> None:
    assert parse_authorization("Bearer abc.def").value == "abc.def"
    assert parse_authorization('Ticket id="tkt_1"').kind == "ticket"
    for bad in (None, "", "Bearer", "Bearer a b", "Basic x", "Ticket id=tkt", "bearer"):
        with pytest.raises(InvalidBearerFormat):
            parse_authorization(bad)


def test_kinds_do_not_stand_in_for_each_other() -> None:
    codec = TokenCodec(SigningKeys([generate_signing_jwk()]))
    for kind in ("request", "tx", "sig"):
        token = codec.issue(kind, {"sub": "u"}, 60)  # type: ignore[arg-type]
        assert codec.decode(token, kind)["sub"] == "u"  # type: ignore[arg-type]
        for other in {"request", "tx", "sig"} - {kind}:
            with pytest.raises(InvalidToken):
                codec.decode(token, other)  # type: ignore[arg-type]


def test_expiry_uses_the_injected_clock() -> None:
    clock = FrozenClock(1_000_000)
    codec = TokenCodec(SigningKeys([generate_signing_jwk()]), clock=clock)
    token = codec.issue("tx", {"txid": "t"}, 60)
    clock.advance(59)
    codec.decode(token, "tx")
    clock.advance(1)
    with pytest.raises(TransactionExpired):
        codec.decode(token, "tx")


def test_forged_or_foreign_tokens_are_invalid() -> None:
    codec = TokenCodec(SigningKeys([generate_signing_jwk()]))
    stranger = TokenCodec(SigningKeys([generate_signing_jwk()]))
    with pytest.raises(InvalidToken):
        codec.decode(stranger.issue("sig", {}, 60), "sig")
    unsigned = jwt.encode({"mfa_t": "tx", "exp": 2**40, "iat": 0, "iss": "mfa"}, None, "none")
    with pytest.raises(InvalidToken):
        codec.decode(unsigned, "tx")
    # Expired *and* forged: the forgery is what is reported.
    clock = FrozenClock()
    old = TokenCodec(stranger.keys, clock=clock).issue("tx", {}, 1)
    with pytest.raises(InvalidToken):
        codec.decode(old, "tx")


def test_key_rotation_keeps_old_tokens_valid() -> None:
    old_key, new_key = generate_signing_jwk(), generate_signing_jwk()
    before = TokenCodec(SigningKeys([old_key]))
    issued = {kind: before.issue(kind, {"sub": "u"}, 60) for kind in ("tx", "sig")}
    after = TokenCodec(SigningKeys([new_key, old_key]))
    for kind, token in issued.items():
        assert after.decode(token, kind)["sub"] == "u"  # type: ignore[arg-type]
    fresh = after.issue("sig", {}, 60)
    assert jwt.get_unverified_header(fresh)["kid"] == new_key["kid"]
    assert [k["kid"] for k in after.keys.jwks()["keys"]] == [new_key["kid"], old_key["kid"]]
    with pytest.raises(InvalidToken):  # once the old key is dropped, its tokens die
        TokenCodec(SigningKeys([new_key])).decode(issued["tx"], "tx")


def test_encryption_rotation_and_binding() -> None:
    old, new = generate_encryption_key(), generate_encryption_key()
    sealed = EncryptionKeys.from_text(old).encrypt(b"seed", b"acme/dev_1/totp")
    both = EncryptionKeys.from_text(f"{new},{old}")
    assert both.decrypt(sealed, b"acme/dev_1/totp") == b"seed"
    assert both.needs_rotation(sealed)
    with pytest.raises(InvalidTag):  # sealed for another enrollment: refused
        both.decrypt(sealed, b"acme/dev_2/totp")


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            "MFA_REDIS_URL": "redis://r:6379/0",
            "MFA_DISABLED_FACTORS": "sms, push",
            "MFA_TRANSACTION_TTL_SECONDS": "120",
            "MFA_AUTO_MIGRATE": "yes",
            "MFA_BACKEND_TIMEOUT_SECONDS": "0.5",
            "UNRELATED": "x",
        }
    )
    assert s.redis_url == "redis://r:6379/0"
    assert s.disabled_factors == {"sms", "push"}
    assert s.transaction_ttl_seconds == 120 and s.backend_timeout_seconds == 0.5
    assert s.migrate_on_start is True and not s.embedded
    assert Settings.from_env({}).migrate_on_start is True  # SQLite default
    assert (
        Settings.from_env({"MFA_DATABASE_URL": "postgresql+asyncpg://x/y"}).migrate_on_start
        is False
    )


@pytest.mark.parametrize(
    "env",
    [
        {"MFA_DISABLED_FACTORS": "otp,email"},
        {"MFA_TRANSACTION_TTL_SECONDS": "soon"},
        {"MFA_AUTO_MIGRATE": "maybe"},
        {"MFA_SMS_TRANSPORT": "twilio"},
        {"MFA_SMS_TRANSPORT": "webhook", "MFA_SMS_WEBHOOK_URL": "http://x"},
    ],
)
def test_bad_settings_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_signing_keys_must_be_private_p256() -> None:
    with pytest.raises(SettingsError):
        SigningKeys.from_json("not json")
    public = dict(generate_signing_jwk())
    public.pop("d")
    with pytest.raises(SettingsError):
        SigningKeys.from_json(json.dumps([public]))


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["request", "tx", "sig"])
def test_a_hostile_header_is_refused_before_it_is_parsed(kind: str) -> None:
    codec = TokenCodec(SigningKeys([generate_signing_jwk()]))
    deep = _b64(b"[" * 100_000 + b"]" * 100_000)  # RecursionError, had it been parsed
    for header in (deep, _b64(b'{"alg": "HS256", "kid": ' + b"[" * 5000 + b"]" * 5000 + b"}")):
        with pytest.raises(InvalidToken):
            codec.decode(f"{header}.{_b64(b'{}')}.{_b64(b'x' * 32)}", kind)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        codec.decode("a." * 10_000 + "b", kind)  # type: ignore[arg-type]


def test_a_valid_signature_with_a_mismatched_header_is_refused() -> None:
    keys = SigningKeys([generate_signing_jwk()])
    codec = TokenCodec(keys)
    token = codec.issue("tx", {"sub": "u"}, 60)
    _, body, _ = token.split(".")
    # Re-sign a header naming another kid with the right key: still refused.
    header = _b64(json.dumps({"alg": "HS256", "kid": "other", "typ": "JWT"}).encode())
    import hashlib
    import hmac

    sig = hmac.new(keys.newest.hmac_secret, f"{header}.{body}".encode(), hashlib.sha256)
    with pytest.raises(InvalidToken):
        codec.decode(f"{header}.{body}.{_b64(sig.digest())}", "tx")
