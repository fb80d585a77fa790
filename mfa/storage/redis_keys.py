"""The Redis store's key layout: every key a script or a command touches is named here.

Key layout (``P`` is the prefix, ``T`` the tenant id)::

    P:{T}:tx:<txid>                    transaction hash (TTL: its expiry)
    P:{T}:fail:<user>                  wrong codes in the current window
    P:{T}:lock:<user>                  lockout flag
    P:{T}:replay:<replay key>          last accepted TOTP step
    P:{T}:quota:<channel>:user:<user>  fixed-window send counters
    P:{T}:quota:<channel>:tenant
    P:{T}:lease:<name>                 a lease's holder mark (TTL: the lease)
    P:{T}:ticket:<id>                  one-time tickets whose id names T after a dot
    P:{T}:events                       the tenant's event stream (mfa.events), group "mover"
    P:ticket:<id>                      other one-time tickets (global)

The tenant id sits in a hash tag, so on Redis Cluster all keys of one tenant live
in one slot and a script may touch the user's and the tenant's keys together
(every script's keys are one tenant's).
"""

from __future__ import annotations

from mfa.names import Channel

__all__ = ["RedisKeys", "ticket_shard"]


class RedisKeys:
    """The keys under one prefix, which namespaces a deployment (or a test run)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def tenant(self, tenant_id: str, *parts: str) -> str:
        """``P:{T}:<parts>``: a key in the tenant's slot."""
        return ":".join((self.prefix, "{" + tenant_id + "}", *parts))

    def events(self, tenant_id: str) -> str:
        return self.tenant(tenant_id, "events")

    def quotas(self, tenant_id: str, user_id: str, channel: Channel) -> list[str]:
        """The user's and the tenant's send counter of ``channel``."""
        return [
            self.tenant(tenant_id, "quota", channel, "user", user_id),
            self.tenant(tenant_id, "quota", channel, "tenant"),
        ]

    def ticket(self, ticket_id: str) -> str:
        shard = ticket_shard(ticket_id)
        if shard is None:
            return f"{self.prefix}:ticket:{ticket_id}"
        return self.tenant(shard, "ticket", ticket_id)

    def tenant_glob(self, tenant_id: str) -> str:
        """A SCAN pattern matching every key of the tenant (glob characters escaped)."""
        return _glob_escape(self.tenant(tenant_id, "")) + "*"


def ticket_shard(ticket_id: str) -> str | None:
    """The tenant a ticket id names after its last dot (see Context.new_id), whose
    slot keeps the ticket; None for an id without one (kept in a global key)."""
    _, dot, tenant = ticket_id.rpartition(".")
    return tenant if dot and tenant else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
