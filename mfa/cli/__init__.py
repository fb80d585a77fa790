"""The ``mfa`` command: run the service, migrate, and operate tenants without HTTP.

Operator commands work in process on the configured stores (the same ``MFA_*``
variables as the service) with operator rights, validated by the same schemas as
the HTTP API. Output is a table, or JSON with ``--json`` anywhere on the line.
Exit status: 0 done, 1 refused by the service (its catalogue code is printed), 2
bad usage or configuration, or a backend that is unreachable or not migrated.

Only :mod:`mfa.cli._parser` loads at start, so ``mfa --help`` is quick; each
command imports what it uses.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from mfa.cli._checks import Refusal
from mfa.cli._output import emit, fail
from mfa.cli._parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    _logging(verbose=bool(getattr(args, "verbose", False)))
    from mfa.errors import MFAError
    from mfa.settings import SettingsError

    try:
        data = _dispatch(args)
    except MFAError as exc:
        fail(exc.message, code=exc.code, as_json=as_json, errorCode=exc.code)
        return 1
    except SettingsError as exc:
        fail(str(exc), code="configuration", as_json=as_json)
        return 2
    except Refusal as exc:
        fail(str(exc), code="", as_json=as_json)
        return 2
    except KeyboardInterrupt:
        return 130
    emit(data, as_json=as_json)
    return 0


def _logging(*, verbose: bool) -> None:
    # Quiet by default: warnings about the configuration (a misspelt variable)
    # still show, the service's own notices only with --verbose.
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="mfa: %(message)s"
    )
    if not verbose:
        logging.getLogger("mfa").setLevel(logging.ERROR)
        logging.getLogger("mfa.settings").setLevel(logging.WARNING)


def _dispatch(args: argparse.Namespace) -> Any:
    action: str = args.action
    if action == "keys.generate":
        import json

        from mfa.keys import generate_encryption_key, generate_signing_jwk

        return {
            "MFA_SIGNING_KEYS": json.dumps([generate_signing_jwk()]),
            "MFA_ENCRYPTION_KEYS": generate_encryption_key(),
        }
    if action == "scopes":
        from mfa.cli._scopes import SCOPES

        return [{"scope": s, "allows": text} for s, text in SCOPES.items()]
    if action == "settings" and args.markdown:
        from mfa.settings_table import markdown_table

        print(markdown_table(), end="")
        return None

    from mfa.settings import SECRETS, Settings, variable

    settings = Settings.from_env()
    if action == "settings":
        return {
            variable(name): ("(set)" if getattr(settings, name) else None)
            if name in SECRETS
            else _plain(getattr(settings, name))
            for name in Settings.model_fields
        }
    if action == "serve":
        from mfa.cli._serve import serve

        serve(args, settings)  # returns when uvicorn stops
        return None
    if action.startswith("db."):
        from mfa.cli._serve import db

        return asyncio.run(db(args, settings))
    from mfa.cli._operate import run

    return asyncio.run(run(args, settings))


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    return value
