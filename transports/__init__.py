"""Delivery adapters for mfa: Twilio SMS, webhook, console and an in-memory outbox."""
