"""Phone numbers: E.164 mobile numbers only, always shown masked.

Validation uses libphonenumber's metadata (``phonenumbers``) before any send, so a
typo costs no SMS and no quota. Numbers whose type libphonenumber cannot tell
apart (``FIXED_LINE_OR_MOBILE``, common in North America) are accepted; the
provider has the last word and its refusal maps to the same error.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from mfa.errors import InvalidPhoneNumber

_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize(raw: str) -> str:
    """The number in E.164 form, or :class:`InvalidPhoneNumber`."""
    text = raw.strip()
    if not text.startswith("+"):
        raise InvalidPhoneNumber("Send the number in E.164 form, with its country code.")
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        raise InvalidPhoneNumber() from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    if phonenumbers.number_type(number) not in _MOBILE:
        raise InvalidPhoneNumber("The number is not a mobile number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """Every digit hidden but the last two, as Guardian clients display it."""
    digits = e164.lstrip("+")
    return "X" * (len(digits) - 2) + digits[-2:]
