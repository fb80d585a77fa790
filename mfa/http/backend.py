"""Backend API routes: what the host's backend and tenant admins call with API keys,
and the open routes about the service itself.

Each concept declares its own routes next to its handlers; this is their one list,
in the order of the OpenAPI document:

- :mod:`mfa.http.tenants`: tenants and API keys
- :mod:`mfa.http.tenant_settings`: factor and feature toggles, SMS settings, quotas
- :mod:`mfa.http.users`: request tokens, enrollment tickets, enrollments, recovery codes
- :mod:`mfa.http.meta`: error catalogue, JWKS, liveness, readiness (no credentials)
- :mod:`mfa.http.hosted_pages`: the hosted pages' allowlist and branding (mfa.ui)
- :mod:`mfa.http.events` and :mod:`mfa.http.webhooks`: the audit trail, tenant webhooks
- :mod:`mfa.http.sandbox`: what a sandbox tenant's outbox holds (mfa.sandbox)
- :mod:`mfa.http.status`: the enrollment status object (mfa.enrollment_status)

What they share (API-key auth, the common errors) is :mod:`mfa.http.backend_endpoint`.
"""

from __future__ import annotations

from mfa.http import (
    events,
    hosted_pages,
    meta,
    sandbox,
    status,
    tenant_settings,
    tenants,
    users,
    webhooks,
)
from mfa.http.endpoint import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *tenants.ENDPOINTS,
    *tenant_settings.ENDPOINTS,
    *users.ENDPOINTS,
    *meta.ENDPOINTS,
    *hosted_pages.ENDPOINTS,
    *events.ENDPOINTS,
    *webhooks.ENDPOINTS,
    *sandbox.ENDPOINTS,
    *status.ENDPOINTS,
)
