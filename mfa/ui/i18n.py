"""Languages of the hosted pages: negotiation and message tables.

English user messages come from :mod:`mfa.catalogue` itself, so the catalogue
stays the single source; another language carries its own ``errors`` table,
keyed by catalogue code, which a test holds to the catalogue (every code, the
same placeholders). Interface strings live in ``translations/<lang>.json``.
"""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mfa.catalogue import CATALOGUE

LANGUAGES = ("en", "fr")
DEFAULT = "en"
_RANGE = re.compile(r"^([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*$")


@functools.cache
def table(lang: str) -> dict[str, Any]:
    raw = resources.files("mfa.ui").joinpath("translations", f"{lang}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)
    if lang == DEFAULT:
        data["errors"] = {code: spec.user_message for code, spec in CATALOGUE.items()}
    return data


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (RFC 9110
    §12.5.4: quality values, primary subtag match), English when nothing fits."""
    best, best_q = DEFAULT, 0.0
    for item in (accept_language or "")[:500].split(","):
        tag, _, params = item.strip().partition(";")
        match = _RANGE.match(tag.strip())
        if match is None:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        lang = match.group(1).lower()
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def fill(template: str, **values: str) -> str:
    """``template`` with the known placeholders filled, the others left for the
    page's script (``{retry_after}`` is only known when a send is refused)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


@dataclass(frozen=True)
class Messages:
    lang: str
    tenant_name: str

    def ui(self, key: str, **values: str) -> str:
        text: str = table(self.lang)["ui"][key]
        return fill(text, tenant_name=self.tenant_name, **values)

    def error(self, code: str, **values: str) -> str:
        """The catalogue's user message for ``code`` in this language."""
        errors: dict[str, str] = table(self.lang)["errors"]
        return fill(
            errors.get(code, errors["internal_error"]), tenant_name=self.tenant_name, **values
        )

    def method(self, name: str) -> str:
        return str(table(self.lang)["method_inline"].get(name, name))

    def field(self, name: str) -> str:
        return str(table(self.lang)["fields"].get(name, name))

    def for_script(self) -> dict[str, Any]:
        """What the page's script needs to word the errors it meets itself."""
        data = table(self.lang)
        return {
            "errors": {code: self.error(code) for code in data["errors"]},
            "methods": dict(data["method_inline"]),
            "fields": dict(data["fields"]),
            "ui": {
                k: self.ui(k)
                for k in (
                    "sms_wait",
                    "sms_sent",
                    "recovery_copied",
                    "working",
                    "push_wait",
                    "push_enrolled",
                )
            },
        }
