"""mfa: multi-factor authentication as an ASGI sub-app, a Python client and a library.

The public surface is listed in ``__all__``; everything else is internal and may
change between minor versions.
"""

from mfa.app import __version__, create_app
from mfa.catalogue import CATALOGUE, ErrorSpec
from mfa.errors import ERROR_CLASSES, MFAError
from mfa.service import MFAService, VerifiedResult
from mfa.settings import Settings, SettingsError

__all__ = [
    "CATALOGUE",
    "ERROR_CLASSES",
    "ErrorSpec",
    "MFAError",
    "MFAService",
    "Settings",
    "SettingsError",
    "VerifiedResult",
    "__version__",
    "create_app",
]
