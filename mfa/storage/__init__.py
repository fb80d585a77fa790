"""Storage: the durable and ephemeral store Protocols and their implementations."""
