"""The README's configuration table, generated from :class:`mfa.settings.Settings`.

``mfa settings --markdown`` prints it; ``tests/test_docs.py`` keeps the README's
copy equal to it, so a new setting cannot go undocumented.
"""

from __future__ import annotations

from mfa.settings import Settings, variable


def markdown_table() -> str:
    """The README's configuration table, one row per setting."""
    rows = ["| variable | type | meaning | default |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        rows.append(
            f"| `{variable(name)}` | {_type_text(name)} | {info.description} | "
            f"{_default_text(name)} |"
        )
    return "\n".join(rows) + "\n"


def _type_text(name: str) -> str:
    info = Settings.model_fields[name]
    bounds = {type(m).__name__: m for m in info.metadata}
    kind = {"int": "integer", "float": "number", "bool": "boolean", "bool | None": "boolean"}.get(
        _annotation(name), "text"
    )
    if name in ("disabled_factors", "cors_origins"):
        kind = "comma list"
    if name == "argon2_profile":
        kind = "`rfc9106_low_memory` or `cheapest`"
    if name == "log_format":
        kind = "`text` or `json`"
    low = bounds.get("Ge") or bounds.get("Gt")
    high = bounds.get("Le")
    if low is not None and high is not None:
        lo = getattr(low, "ge", None)
        lo_text = f"{lo}" if lo is not None else f">{getattr(low, 'gt', '')}"
        kind += f" {lo_text}..{high.le}"
    return kind


def _annotation(name: str) -> str:
    annotation = Settings.model_fields[name].annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _default_text(name: str) -> str:
    default = Settings.model_fields[name].default
    if default is None or default == frozenset():
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"
