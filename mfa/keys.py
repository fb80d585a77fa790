"""Key lists for signing and for encryption at rest, newest first.

Rotation works the itsdangerous way: the newest key signs or encrypts, every key
in the list verifies or decrypts. Put a new key in front, deploy, and drop the old
one once nothing it protected is still alive.

- Signing keys are EC P-256 private JWKs (``MFA_SIGNING_KEYS``, a JSON array).
  Result signatures use ES256 with them, so hosts verify against
  ``/.well-known/jwks.json``. Internal tokens (request and transaction tokens),
  which only mfa reads, use HS256 with a secret derived from each key by HKDF:
  an order of magnitude cheaper on the verify-otp hot path, and rotated with it.
- Encryption keys are 32-byte AES-256-GCM keys (``MFA_ENCRYPTION_KEYS``, a comma
  list of base64url strings). Each ciphertext names its key by a 4-byte id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm

from mfa.settings import Settings, SettingsError

log = logging.getLogger("mfa.keys")


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_signing_jwk() -> dict[str, Any]:
    """A fresh private EC P-256 JWK with a random ``kid``."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    jwk.update(kid=secrets.token_hex(8), alg="ES256", use="sig")
    return jwk


def generate_encryption_key() -> str:
    return _b64u(AESGCM.generate_key(bit_length=256))


# ECDSA over SHA-256, the parameters of ES256: immutable, so one object serves every
# signature instead of two new ones each time.
_ES256 = ec.ECDSA(hashes.SHA256())


def _jws_header(alg: str, kid: str) -> str:
    """The JWS protected header segment, as the token codec writes it."""
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    return _b64u(json.dumps(header, separators=(",", ":")).encode())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]
    hmac_secret: bytes
    # The header segments never change for a key: encoded once, not per token.
    es256_header: str = ""
    hs256_header: str = ""
    _hmac: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Keyed once: a one-shot hmac.digest looks up HMAC and SHA-256 in OpenSSL on
        # every call, and every verify-otp checks a token with it.
        keyed = hmac.new(self.hmac_secret, digestmod=hashlib.sha256)
        object.__setattr__(self, "_hmac", keyed)

    def hs256(self, signing_input: bytes) -> bytes:
        """The JWS HS256 signature of ``signing_input`` with this key's internal secret."""
        mac = self._hmac.copy()
        mac.update(signing_input)
        return mac.digest()

    def sign_es256(self, signing_input: bytes) -> bytes:
        """The JWS ES256 signature of ``signing_input``: raw ``r || s``, 64 bytes
        (RFC 7518 §3.4), not the DER that OpenSSL returns."""
        r, s = decode_dss_signature(self.private.sign(signing_input, _ES256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class SigningKeys:
    def __init__(self, jwks: list[dict[str, Any]]) -> None:
        if not jwks:
            raise SettingsError("MFA_SIGNING_KEYS holds no key")
        keys: list[SigningKey] = []
        for jwk in jwks:
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid:
                raise SettingsError("every signing key needs a 'kid'")
            private = ECAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
                private.curve, ec.SECP256R1
            ):
                raise SettingsError(f"signing key {kid!r} is not a private EC P-256 key")
            public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
            public.update(kid=kid, alg="ES256", use="sig")
            d = _unb64u(jwk["d"])
            secret = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"mfa internal tokens"
            ).derive(d)
            keys.append(
                SigningKey(
                    kid,
                    private,
                    public,
                    secret,
                    es256_header=_jws_header("ES256", kid),
                    hs256_header=_jws_header("HS256", kid),
                )
            )
        self.keys = tuple(keys)
        self.by_kid = {k.kid: k for k in keys}

    @classmethod
    def from_json(cls, text: str) -> SigningKeys:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"MFA_SIGNING_KEYS is not JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("keys", [data])
        if not isinstance(data, list):
            raise SettingsError("MFA_SIGNING_KEYS must be a JSON array of private JWKs")
        return cls(data)

    @property
    def newest(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys]}


class EncryptionKeys:
    """AES-256-GCM with a key list. Layout: ``kid(4) | nonce(12) | ciphertext+tag``."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SettingsError("MFA_ENCRYPTION_KEYS holds no key")
        for k in keys:
            if len(k) != 32:
                raise SettingsError("every MFA_ENCRYPTION_KEYS entry must be 32 bytes")
        self._keys = [(hashlib.sha256(k).digest()[:4], AESGCM(k)) for k in keys]

    @classmethod
    def from_text(cls, text: str) -> EncryptionKeys:
        try:
            return cls([_unb64u(p.strip()) for p in text.split(",") if p.strip()])
        except ValueError as exc:
            raise SettingsError(f"MFA_ENCRYPTION_KEYS: {exc}") from None

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        kid, aes = self._keys[0]
        nonce = os.urandom(12)
        return kid + nonce + aes.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        kid, nonce, ct = blob[:4], blob[4:16], blob[16:]
        for candidate, aes in self._keys:
            if candidate == kid:
                return aes.decrypt(nonce, ct, aad)
        raise KeyError("no configured encryption key matches this ciphertext")

    def needs_rotation(self, blob: bytes) -> bool:
        return blob[:4] != self._keys[0][0]


@dataclass(frozen=True)
class KeyMaterial:
    signing: SigningKeys
    encryption: EncryptionKeys
    generated: bool
    admin_key: str | None = None  # development operator key, when none is configured


def new_api_key() -> str:
    """An opaque API key: 256 random bits behind a recognisable prefix."""
    return "mfa_" + secrets.token_urlsafe(32)


def load_keys(settings: Settings) -> KeyMaterial:
    """Keys from the settings, or development keys kept in ``settings.dev_keys_path``."""
    if settings.signing_keys and settings.encryption_keys:
        return KeyMaterial(
            SigningKeys.from_json(settings.signing_keys),
            EncryptionKeys.from_text(settings.encryption_keys),
            generated=False,
            admin_key=None if settings.admin_key else new_api_key(),
        )
    path = Path(settings.dev_keys_path)
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {
            "signing": [generate_signing_jwk()],
            "encryption": generate_encryption_key(),
            "admin_key": new_api_key(),
        }
        # Created private: it holds every secret of a development instance.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(stored))
    log.warning(
        "using generated development keys from %s; set MFA_SIGNING_KEYS and "
        "MFA_ENCRYPTION_KEYS in production",
        path,
    )
    signing = (
        SigningKeys.from_json(settings.signing_keys)
        if settings.signing_keys
        else SigningKeys(stored["signing"])
    )
    encryption = EncryptionKeys.from_text(settings.encryption_keys or stored["encryption"])
    return KeyMaterial(signing, encryption, generated=True, admin_key=stored.get("admin_key"))
