"""OpenAPI 3.1, generated from the endpoint records and their pydantic schemas.

The same models validate requests, so the document describes exactly what the
service accepts and answers; error responses list the catalogue codes each route
can send.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mfa.catalogue import CATALOGUE
from mfa.http.endpoint import Endpoint
from mfa.http.examples import with_examples
from mfa.http.params import MAX_ID_CHARS
from mfa.names import Factor, Feature
from mfa.schemas import NO_CONTROL, ErrorBody
from mfa.schemas.backend import TENANT_ID_PATTERN

_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "start": [{"requestToken": []}, {"enrollmentTicket": []}],
    "transaction": [{"transactionToken": []}],
    "api_key": [{"apiKey": []}],
    "phone_ticket": [{"enrollmentTicket": []}],
    "device": [{"deviceToken": []}, {"deviceJwt": []}],
}
_ALWAYS = ("not_found", "invalid_query_string", "internal_error", "service_unavailable")


def build_openapi(endpoints: tuple[Endpoint, ...], version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorBody]
    for ep in endpoints:
        for m in (ep.body, ep.response):
            if m is not None and m not in models:
                models.append(m)
    inputs = {ep.body for ep in endpoints if ep.body is not None}
    _, defs = models_json_schema(
        [(m, "validation" if m in inputs else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": ep.handler.__name__,
            "summary": ep.summary,
            "tags": list(ep.tags),
            "responses": _responses(ep),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(ep.path, name)}
            for name in re.findall(r"{(\w+)}", ep.path)
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                # Optional only where every field is: Guardian clients POST those
                # without a body, and a missing body reads as {}.
                "required": any(f.is_required() for f in ep.body.model_fields.values()),
                "content": {"application/json": {"schema": _ref(ep.body)}},
            }
        if ep.auth in _SECURITY:
            op["security"] = _SECURITY[ep.auth]
        if ep.scope:
            op["x-required-scope"] = ep.scope
        paths[ep.path][ep.method.lower()] = op
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "mfa",
            "version": version,
            "description": "Multi-factor authentication: the Guardian factor protocol and the "
            "backend API. Every route is also served under /appliance-mfa. "
            "Errors: GET /api/errors.",
        },
        "paths": dict(paths),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "mfa_… API key"},
                "requestToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "transactionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "deviceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token /api/enroll answered to the phone",
                },
                "deviceJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "RS256, signed by the enrolled device key",
                },
                "enrollmentTicket": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": 'Ticket id="<ticket>" (the phone: the enrollment_tx_id)',
                },
            },
        },
    }
    return with_examples(document)


_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}


def _path_schema(path: str, name: str) -> dict[str, Any]:
    """What the route accepts for a path parameter (mfa.http.params checks the same)."""
    if name == "tenant_id":
        return {"type": "string", "pattern": TENANT_ID_PATTERN}
    if name == "name" and "/factors/" in path:
        return {"type": "string", "enum": [f.value for f in Factor]}
    if name == "name" and "/features/" in path:
        return {"type": "string", "enum": [f.value for f in Feature]}
    return {**_ID, "pattern": NO_CONTROL}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _responses(ep: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ep.status == 204:
        out["204"] = {"description": "Done"}
    else:
        schema: dict[str, Any] = {}
        if ep.response is not None:
            schema = _ref(ep.response)
            if ep.many:
                schema = {"type": "array", "items": schema}
        content = {"application/json": {"schema": schema} if schema else {}}
        out[str(ep.status)] = {"description": "Success", "content": content}
    by_status: dict[int, list[str]] = defaultdict(list)
    body_errors = ("invalid_body",) if ep.body is not None else ()
    # mfa.http.params answers tenant_not_found for any {tenant_id} that cannot be one.
    path_errors = ("tenant_not_found",) if "{tenant_id}" in ep.path else ()
    for code in (*ep.errors, *body_errors, *path_errors, *_ALWAYS):
        spec = CATALOGUE[code]
        if code not in by_status[spec.status]:
            by_status[spec.status].append(code)
    by_status[405].append("not_found")
    for status, codes in sorted(by_status.items()):
        out[str(status)] = {
            "description": ", ".join(codes),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            _ref(ErrorBody),
                            {"properties": {"errorCode": {"enum": codes}}},
                        ]
                    }
                }
            },
        }
    return out
