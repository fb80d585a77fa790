"""Request and response schemas: the one copy that both validates and documents.

Request bodies are validated with these models (strict types, unknown fields
refused) and ``GET /api/openapi.json`` is generated from the same models, so the
documentation cannot drift from what the service accepts. The response models
are also what the views (:mod:`mfa.http.guardian_views`, :mod:`mfa.http.views`)
serialize with, so a documented shape is the shape sent.

Here: what every API shares (the request base, the error body, the text rules).
The factor protocol's and the phone's models are in :mod:`mfa.schemas.guardian`,
the backend API's in :mod:`mfa.schemas.backend`.

``WIRE_NAMES`` maps a body field to the name reported in ``field_required``: the
Guardian clients know ``otpCode``, ``recoveryCode`` and ``phoneNumber``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

# No control characters (C0, DEL, C1) in any text we keep: PostgreSQL refuses NUL
# outright (a 500, once), and none belongs in a name or an id. Enforced by pydantic
# and, being a pattern, shown in the OpenAPI document.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    WIRE_NAMES: ClassVar[dict[str, str]] = {}


class Empty(Body):
    """Routes whose clients send no body (``Content-Length: 0``) also accept ``{}``."""


class RecoveryCodeResponse(BaseModel):
    recovery_code: str


class ErrorBody(BaseModel):
    statusCode: int
    error: str
    message: str
    errorCode: str
    field: str | None = None
    method: str | None = None
