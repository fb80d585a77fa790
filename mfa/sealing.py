"""Secrets at rest: AES-GCM sealing bound to the tenant, enrollment and purpose.

The associated data names where a sealed value belongs, so a TOTP seed copied
into another enrollment's row, or a phone blob used as a seed, fails to open.
Transactions carry sealed values as base64 text (they are JSON in Redis).
"""

from __future__ import annotations

import base64

from mfa.keys import EncryptionKeys


class Sealer:
    def __init__(self, keys: EncryptionKeys) -> None:
        self._keys = keys

    @staticmethod
    def _aad(tenant_id: str, enrollment_id: str, purpose: str) -> bytes:
        return f"{tenant_id}/{enrollment_id}/{purpose}".encode()

    def seal(self, tenant_id: str, enrollment_id: str, purpose: str, plaintext: str) -> bytes:
        aad = self._aad(tenant_id, enrollment_id, purpose)
        return self._keys.encrypt(plaintext.encode(), aad)

    def unseal(self, tenant_id: str, enrollment_id: str, purpose: str, blob: bytes) -> str:
        aad = self._aad(tenant_id, enrollment_id, purpose)
        return self._keys.decrypt(blob, aad).decode()

    def seal_text(self, tenant_id: str, enrollment_id: str, purpose: str, plaintext: str) -> str:
        """Sealed and base64-encoded, for a transaction's JSON data."""
        return b64(self.seal(tenant_id, enrollment_id, purpose, plaintext))

    def unseal_text(self, tenant_id: str, enrollment_id: str, purpose: str, text: str) -> str:
        return self.unseal(tenant_id, enrollment_id, purpose, unb64(text))


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)
