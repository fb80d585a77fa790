"""Languages of the hosted pages: every language complete, the catalogue the source."""

from __future__ import annotations

import pytest

from mfa.catalogue import CATALOGUE
from mfa.ui import i18n


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT])
def test_every_language_is_complete(lang: str) -> None:
    english, other = i18n.table(i18n.DEFAULT), i18n.table(lang)
    for section in ("ui", "method_inline", "fields"):
        assert set(other[section]) == set(english[section]), section
        for key, text in english[section].items():
            assert i18n.placeholders(other[section][key]) == i18n.placeholders(text), key
    # a user message for every catalogue code, with the same placeholders
    assert set(other["errors"]) == set(CATALOGUE)
    for code, spec in CATALOGUE.items():
        assert i18n.placeholders(other["errors"][code]) == i18n.placeholders(spec.user_message)
        assert other["errors"][code] != spec.user_message, code  # translated, not copied


def test_english_user_messages_are_the_catalogue() -> None:
    assert i18n.table("en")["errors"] == {c: s.user_message for c, s in CATALOGUE.items()}


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA,fr;q=0.9", "fr"),
        ("de-DE, fr;q=0.8, en;q=0.5", "fr"),
        ("en;q=0.9, fr", "fr"),
        ("fr;q=0.2, en;q=0.8", "en"),
        ("fr;q=0", "en"),
        ("de, ja", "en"),
        ("fr;q=abc", "en"),
        ("*", "en"),
    ],
)
def test_negotiation(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


def test_messages_fill_the_tenant_and_leave_the_rest_to_the_page() -> None:
    fr = i18n.Messages("fr", "Acme")
    assert fr.error("auth_method_disabled", method=fr.method("sms")) == (
        "Acme ne permet pas de se connecter avec : SMS."
    )
    script = fr.for_script()
    assert script["errors"]["too_many_sms"].endswith("{retry_after} secondes.")
    assert script["errors"]["tenant_not_found"].startswith(
        "Ce service n'est pas disponible pour Acme"
    )
