"""How the ``mfa`` command prints: tables for people, JSON for scripts.

Data is printed from the same JSON-ready values in both modes, so ``--json`` is
exactly what a person sees, in another form.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(data: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif isinstance(data, list):
        print(table(data) if data else "(none)")
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            print(f"{key + ':':<{width + 1}} {_cell(value)}")
    elif data is not None:
        print(data)


def table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_inline(v)}" for k, v in value.items())
    return str(value)


def _inline(value: Any) -> str:
    if isinstance(value, dict):  # a quota: limit per window
        if set(value) == {"limit", "window_seconds"}:
            return f"{value['limit']}/{value['window_seconds']}s"
        return json.dumps(value, sort_keys=True)
    return _cell(value)


def fail(message: str, *, code: str, as_json: bool, **extra: Any) -> None:
    """One line on stderr (JSON with --json): what went wrong and what to do."""
    if as_json:
        print(json.dumps({"error": code, "message": message, **extra}), file=sys.stderr)
    else:
        print(f"mfa: {code}: {message}" if code else f"mfa: {message}", file=sys.stderr)
