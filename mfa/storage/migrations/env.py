"""Alembic environment for mfa's SQL schema.

Two ways in:

- programmatic (``mfa db upgrade``, ``SqlDurableStore(migrate=True)``): the caller
  opens an async connection and hands its sync face over in
  ``config.attributes["connection"]`` (see :func:`mfa.storage.schema.run_upgrade`);
- the ``alembic`` command line, with ``sqlalchemy.url`` set: an async engine is
  made here and the migrations run through ``connection.run_sync``.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context

from mfa.storage.schema import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from mfa.storage.sql import make_engine  # late: sql imports schema, schema loads us

    engine = make_engine(url, timeout=30.0, bound_statements=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        context.configure(url=context.config.get_main_option("sqlalchemy.url"))
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or pass a connection in config.attributes")
    asyncio.run(_run_async(url))


main()
