"""The HTTP layer: a Starlette app over :class:`mfa.service.MFAService`."""
