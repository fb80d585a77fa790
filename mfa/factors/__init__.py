"""Factor primitives: TOTP, recovery codes, SMS codes and phone numbers.

Small, pure and synchronous (argon2 aside, which callers run off the event loop),
so each can be read in one sitting and tested without a server.
"""
