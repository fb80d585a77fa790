"""Error families: one abstract class per catalogue family, catching exactly its codes."""

from __future__ import annotations

import pytest

import mfa.errors as errors_module
from mfa.catalogue import CATALOGUE
from mfa.errors import (
    ERROR_CLASSES,
    FAMILIES,
    DeliveryFailed,
    InvalidOtp,
    MFAError,
    QuotaExceeded,
    TokenError,
    TooManySms,
    TooManySmsPerTenant,
    WrongCode,
    from_body,
)


def _families_of(cls: type[MFAError]) -> list[type[MFAError]]:
    return [base for base in cls.__mro__ if base in FAMILIES.values()]


def test_every_code_has_exactly_one_class() -> None:
    assert list(ERROR_CLASSES) == list(CATALOGUE)
    assert len(set(ERROR_CLASSES.values())) == len(CATALOGUE)
    for code, cls in ERROR_CLASSES.items():
        assert cls.spec is CATALOGUE[code]
        assert getattr(errors_module, cls.__name__) is cls
        assert cls.__name__ in errors_module.__all__


def test_every_class_is_in_exactly_the_family_of_its_entry() -> None:
    assert set(FAMILIES) == {spec.family for spec in CATALOGUE.values()}
    for code, cls in ERROR_CLASSES.items():
        assert _families_of(cls) == [FAMILIES[CATALOGUE[code].family]], code
    for name, family in FAMILIES.items():
        assert family.__name__ == name
        assert getattr(errors_module, name) is family and name in errors_module.__all__


@pytest.mark.parametrize("code", list(CATALOGUE))
def test_catching_the_family_catches_the_code(code: str) -> None:
    family = FAMILIES[CATALOGUE[code].family]
    with pytest.raises(family) as caught:
        raise ERROR_CLASSES[code]()
    assert caught.value.code == code
    others = [f for f in FAMILIES.values() if f is not family]
    assert not isinstance(caught.value, tuple(others))


def test_families_named_in_the_issue() -> None:
    quota = {c for c, cls in ERROR_CLASSES.items() if issubclass(cls, QuotaExceeded)}
    assert quota == {
        "too_many_sms",
        "too_many_pn",
        "too_many_sms_per_tenant",
        "too_many_pn_per_tenant",
    }
    assert {"invalid_token", "transaction_expired", "invalid_bearer_format"} == {
        c for c, cls in ERROR_CLASSES.items() if issubclass(cls, TokenError)
    }
    assert "error_sending_sms" in {
        c for c, cls in ERROR_CLASSES.items() if issubclass(cls, DeliveryFailed)
    }


def test_families_are_abstract() -> None:
    for family in FAMILIES.values():
        with pytest.raises(TypeError, match="abstract"):
            family()


def test_a_class_outside_its_catalogue_family_is_refused() -> None:
    with pytest.raises(TypeError, match="WrongCode"):

        class Misfiled(QuotaExceeded, code="invalid_otp"):
            pass

    with pytest.raises(TypeError, match="already"):

        class Twice(WrongCode, code="invalid_otp"):
            pass

    assert ERROR_CLASSES["invalid_otp"] is InvalidOtp


def test_client_rebuilds_the_same_classes() -> None:
    """The client turns every error body back into its class, so ``except`` on a
    family works the same against a remote service as in process."""
    for code, cls in ERROR_CLASSES.items():
        rebuilt = from_body(cls.spec.status, cls(retry_after=3).to_body(), {"retry-after": "3"})
        assert type(rebuilt) is cls, code
        assert isinstance(rebuilt, FAMILIES[cls.spec.family])
    per_tenant = from_body(429, TooManySmsPerTenant().to_body())
    assert isinstance(per_tenant, QuotaExceeded) and not isinstance(per_tenant, TooManySms)
