"""mfa: multi-factor authentication as an ASGI sub-app, a Python client and a library.

The public surface is listed in ``__all__``; everything else is internal and may
change between minor versions.

Names are imported on first use (PEP 562): ``import mfa`` alone, or
``import mfa.client``, loads none of the server (Starlette, SQLAlchemy, redis, …),
so a host that only talks to a remote service does not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mfa._version import __version__

if TYPE_CHECKING:
    from mfa.app import create_app
    from mfa.catalogue import CATALOGUE, ErrorSpec
    from mfa.errors import ERROR_CLASSES, MFAError
    from mfa.inprocess import InProcessClient
    from mfa.results import VerifiedResult
    from mfa.service import MFAService
    from mfa.settings import Settings, SettingsError

__all__ = [
    "CATALOGUE",
    "ERROR_CLASSES",
    "ErrorSpec",
    "InProcessClient",
    "MFAError",
    "MFAService",
    "Settings",
    "SettingsError",
    "VerifiedResult",
    "__version__",
    "create_app",
]

# Where each lazily imported public name lives.
_LAZY = {
    "CATALOGUE": "mfa.catalogue",
    "ERROR_CLASSES": "mfa.errors",
    "ErrorSpec": "mfa.catalogue",
    "InProcessClient": "mfa.inprocess",
    "MFAError": "mfa.errors",
    "MFAService": "mfa.service",
    "Settings": "mfa.settings",
    "SettingsError": "mfa.settings",
    "VerifiedResult": "mfa.results",
    "create_app": "mfa.app",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mfa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
