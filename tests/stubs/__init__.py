"""Local stand-ins for the vendors mfa talks to, speaking their real wire formats.

Vendor adapters are tested with the vendor's own SDK pointed at these servers,
never by patching the SDK: see :mod:`tests.stubs.twilio_stub`. The pytest
fixtures that start them live in :mod:`tests.stubs.fixtures`.
"""
