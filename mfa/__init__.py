"""mfa: multi-factor authentication as an ASGI sub-app, a Python client and a library."""
