"""Signing keys: the precomputed JWS pieces agree with the codec and with PyJWT."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from mfa.keys import SigningKeys, generate_signing_jwk
from mfa.tokens import TokenCodec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_header_segments_are_the_codecs() -> None:
    keys = SigningKeys([generate_signing_jwk()])
    codec = TokenCodec(keys)
    key = keys.newest
    assert codec.issue("sig", {"sub": "u"}, 60).split(".")[0] == key.es256_header
    assert codec.issue("tx", {"sub": "u"}, 60).split(".")[0] == key.hs256_header
    assert json.loads(base64.urlsafe_b64decode(key.es256_header + "==")) == {
        "alg": "ES256",
        "kid": key.kid,
        "typ": "JWT",
    }


def test_sign_es256_verifies_with_pyjwt_and_the_jwks() -> None:
    keys = SigningKeys([generate_signing_jwk(), generate_signing_jwk()])
    key = keys.keys[1]  # not the newest: each key signs with its own private half
    body = _b64(json.dumps({"sub": "alice", "n": 1}).encode())
    signing_input = f"{key.es256_header}.{body}"
    signature = key.sign_es256(signing_input.encode())
    assert len(signature) == 64  # raw r || s, as JWS wants, not DER
    token = f"{signing_input}.{_b64(signature)}"
    public = jwt.PyJWKSet.from_dict(keys.jwks())[key.kid].key
    assert jwt.decode(token, public, algorithms=["ES256"]) == {"sub": "alice", "n": 1}
    forged_body = _b64(json.dumps({"sub": "mallory", "n": 1}).encode())
    forged = f"{key.es256_header}.{forged_body}.{_b64(signature)}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, public, algorithms=["ES256"])
