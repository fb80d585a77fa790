"""The Redis store's Lua scripts (``mfa/storage/lua``) and how one is run.

Each script is one atomic decision, sent as ``EVALSHA`` (the server keeps the
source); a server that does not know it yet gets ``EVAL`` with the source, which
runs it and caches it, in the same single round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.exceptions as redis_exc

from mfa.storage.redis_lanes import ClusterLanes, Lanes, map_redis_errors

__all__ = ["Script", "load_script", "run_script"]


class Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # what EVALSHA names it by


def load_script(name: str) -> Script:
    return Script(resources.files("mfa.storage").joinpath("lua", name).read_text(encoding="utf-8"))


async def run_script(
    lanes: Lanes | ClusterLanes,
    seconds: float,
    what: str,
    script: Script,
    keys: Sequence[str],
    args: Sequence[str | int],
) -> Any:
    """One script, one round trip, under one deadline (connection wait included)."""
    async with map_redis_errors(lanes, seconds, what):
        try:
            return await lanes.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis_exc.NoScriptError:
            # A new or restarted server (or node): EVAL sends the source, runs it and
            # caches it there, in one round trip; never run twice (it did not run
            # the first time). On a cluster it goes to the node of the keys' slot.
            return await lanes.execute("EVAL", script.source, len(keys), *keys, *args)
