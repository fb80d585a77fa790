"""Enrollment helpers for hosts that draw their own enrollment page.

:mod:`mfa.factors.totp` is imported on first use: it pulls pyotp and segno, which a
host that only verifies results never needs.
"""

from __future__ import annotations


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI authenticator apps scan, for
    :attr:`Transaction.otp_secret`. The service's own function, so the parameters
    (SHA-1, 6 digits, 30 s) always match what it verifies."""
    from mfa.factors import totp

    return totp.provisioning_uri(secret, account, issuer)


def qr_svg(uri: str) -> str:
    """``uri`` as an inline SVG QR code, ready to embed in an enrollment page."""
    from mfa.factors import totp

    return totp.qr_svg(uri)
