"""The Python client end to end against a running mfa service.

Run it against a service (``MFA_ADMIN_KEY=mfa_demo-admin-key-change-me-0123456789 mfa serve``
in another terminal)::

    MFA_ADMIN_KEY=mfa_demo-admin-key-change-me-0123456789 python examples/client_script.py

``MFA_URL`` names the service (default ``http://127.0.0.1:8000``). The script does
what a host backend does — creates a tenant, allows a return URL for the hosted
pages, issues a request token — then plays the user's browser (start-flow, TOTP
enrollment, a TOTP login) and, as the host again, checks each result signature
against the service's public JWKS with :meth:`mfa.client.Client.verify_result`.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

import pyotp

from mfa.client import Client, MFAError

TENANT = "client-demo"
RETURN_URL = "https://app.example.com/mfa-return"


def main() -> int:
    url = os.environ.get("MFA_URL", "http://127.0.0.1:8000")
    key = os.environ.get("MFA_ADMIN_KEY")
    if not key:
        print("set MFA_ADMIN_KEY to the service's operator key", file=sys.stderr)
        return 2
    with Client(url, api_key=key) as mfa:
        # --- the host backend: tenant and hosted-pages allowlist (idempotent) ---
        try:
            mfa.create_tenant(TENANT, "Client Demo")
        except MFAError as exc:
            if exc.code != "invalid_body":  # invalid_body: the tenant exists already
                raise
        pages = mfa.set_hosted_pages(TENANT, allowed_return_urls=[RETURN_URL])
        print("hosted pages may return to:", pages["allowed_return_urls"])
        user = "user-" + secrets.token_hex(4)

        # --- enrollment: the browser would be sent to /ui/ with this token ---
        token = mfa.request_token(TENANT, user)
        print(f"request token for {user}, valid until {token.expires_at:%H:%M:%S}")
        tx = mfa.start_flow(token)
        assert not tx.enrolled and tx.otp_secret is not None
        totp = pyotp.TOTP(tx.otp_secret)
        mfa.verify_otp(tx, totp.now())
        state = mfa.transaction_state(tx)
        assert state.state == "accepted" and state.token is not None
        result = mfa.verify_result(state.token, user_id=user, tenant_id=TENANT)
        print(f"enrolled {result.user_id} with {result.method}; save: {tx.recovery_code}")

        # --- a later login: the next time step (each step is accepted once) ---
        tx = mfa.start_flow(mfa.request_token(TENANT, user))
        assert tx.enrolled
        mfa.verify_otp(tx, totp.at(time.time() + 30))
        state = mfa.transaction_state(tx)
        assert state.token is not None
        result = mfa.verify_result(state.token, user_id=user, tenant_id=TENANT)
        print(f"signed in {result.user_id} with {result.method} (txid {result.txid})")

        # --- a forged or misdirected result is refused, never returns False ---
        try:
            mfa.verify_result(state.token, user_id="someone-else", tenant_id=TENANT)
        except MFAError as exc:
            print("a result for another user is refused:", exc.code)
        else:
            raise AssertionError("a result for another user was accepted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
