"""Hosted pages: enrollment and login screens served by the sub-app under ``/ui/``.

A host app sends its user here with one redirect (a form POST or a GET carrying
a request token or enrollment ticket, ``return_to`` and an optional ``state``)
and gets the signed result back at ``return_to`` by form POST. The pages'
JavaScript speaks the same factor protocol (``/api/...``) as any Guardian
client; the server side only opens the transaction, checks the return URL
against the tenant's allowlist and renders. See :mod:`mfa.ui.routes`.

This package imports no web framework at import time: :mod:`mfa.ui.policy` is
used by the core's admin operations too.
"""
