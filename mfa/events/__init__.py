"""Events: one record per security decision, the audit trail and tenant webhooks.

- :mod:`mfa.events.record`: the event record, its types, the request's metadata.
- :mod:`mfa.events.sink`: what the flows and backend operations call to emit one.
- :mod:`mfa.events.relay`: the background mover from the Redis Stream (or the
  in-process list) to the durable audit table, and the retention sweep.
- :mod:`mfa.events.webhooks`: endpoint registration, Standard Webhooks signing,
  the delivery outbox and its background deliverer.

This package imports nothing at import time, so the storage layer can use its
records without a cycle.
"""
