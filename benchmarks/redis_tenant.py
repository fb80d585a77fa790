"""Benchmark: what one tenant can do on one Redis shard (one Redis thread).

Not a test: it prints figures and asserts nothing. Needs Redis on 127.0.0.1:6379
(DB 11; the run's keys are removed afterwards), ``redis-benchmark`` (it comes with
Redis) and the project installed::

    .venv/bin/python benchmarks/redis_tenant.py [--calls 20000] [--concurrency 64]

Every key of a tenant carries the tenant id as its hash tag, so on Redis Cluster a
tenant lives in one slot, hence on one shard, whose commands run on one thread. A
tenant's ceiling is therefore that thread's throughput for the tenant's hot
operations. Two measurements, both on a single Redis instance:

1. **Redis CPU per operation, through mfa's own store** (``RedisEphemeralStore``,
   as the workers call it; one Python process, ``--concurrency`` calls in flight):
   a successful verify-otp's two round trips (``HGETALL`` of the transaction, then
   ``record_attempt.lua`` with the replay mark and the accepted state), and a
   send's quota decision (``consume_quota.lua``: the user's and the tenant's
   counters). Redis's CPU time (``INFO cpu``) over the calls gives the cost per
   operation; one thread's ceiling is about 1 s / that cost. The Python client is
   the bottleneck here, not Redis, so its own rate means nothing.
2. **Saturation with redis-benchmark**: ``EVALSHA consume_quota.lua`` for random
   users of one tenant, 50 connections, without pipelining (each request of a
   worker is its own round trip, as in mfa) and with 16 commands pipelined (the
   script's cost alone). redis-benchmark shares the cores with Redis, so these
   are floors of what a dedicated Redis core does.

Redis here is shared with whatever else runs on the machine: its CPU counters
include the others' commands, so take several runs and the lower figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import subprocess
import time
import uuid
from importlib import resources

import redis

from mfa.names import Channel, Quota
from mfa.storage.base import AttemptLimits, Transaction
from mfa.storage.redis import RedisEphemeralStore

REDIS_URL = "redis://127.0.0.1:6379/11"
LIMITS = AttemptLimits(per_transaction=5, per_user=10, lockout_seconds=900)
BIG = Quota(10_000_000, 3600)
TOKEN = "x" * 420  # about a signed result's size


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def store_costs(args: argparse.Namespace, prefix: str) -> dict[str, float]:
    """Redis CPU microseconds per verify and per quota decision, through mfa's store."""
    store = RedisEphemeralStore(REDIS_URL, prefix=prefix, max_connections=args.concurrency)
    client = redis.Redis.from_url(REDIS_URL)
    tenant, now, step = "big-tenant", time.time(), int(time.time()) // 30
    gate = asyncio.Semaphore(args.concurrency)
    try:
        txs = [
            Transaction(f"tx{i:07d}", tenant, f"user-{i}", "auth", now + 600)
            for i in range(args.calls)
        ]

        async def create(tx: Transaction) -> None:
            async with gate:
                await store.create_transaction(tx)

        await asyncio.gather(*(create(tx) for tx in txs))

        async def verify(tx: Transaction) -> None:
            async with gate:
                await store.get_transaction(tenant, tx.txid)
                outcome = await store.record_attempt(
                    tenant,
                    tx.txid,
                    tx.user_id,
                    ok=True,
                    limits=LIMITS,
                    replay_key=f"enr-{tx.user_id}",
                    replay_step=step,
                    on_success={"state": "accepted", "token": TOKEN},
                )
                assert outcome.value == "accepted", outcome

        async def send(i: int) -> None:
            async with gate:
                decision = await store.consume_quota(tenant, f"user-{i}", Channel.SMS, BIG, BIG)
                assert decision.granted

        costs = {}
        for name, calls in (
            ("verify", [verify(tx) for tx in txs]),
            ("quota", [send(i) for i in range(args.calls)]),
        ):
            before, started = redis_cpu(client), time.monotonic()
            await asyncio.gather(*calls)
            elapsed = time.monotonic() - started
            costs[name] = (redis_cpu(client) - before) / args.calls * 1e6
            costs[name + "_client_rate"] = args.calls / elapsed
        return costs
    finally:
        await store.close()
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for at in range(0, len(keys), 1000):
            client.unlink(*keys[at : at + 1000])
        client.close()


def saturation(prefix: str, pipeline: int, requests: int) -> tuple[float, float]:
    """redis-benchmark on consume_quota.lua: (calls/s, Redis CPU us per call)."""
    source = resources.files("mfa.storage").joinpath("lua/consume_quota.lua").read_text()
    sha = hashlib.sha1(source.encode()).hexdigest()
    client = redis.Redis.from_url(REDIS_URL)
    client.script_load(source)
    user = f"{prefix}:{{big-tenant}}:quota:sms:user:__rand_int__"
    tenant = f"{prefix}:{{big-tenant}}:quota:sms:tenant"
    events = f"{prefix}:{{big-tenant}}:events"  # a refusal's event goes there (none here)
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "--dbnum", "11", "-c", "50"]
    cmd += ["-n", str(requests), "-P", str(pipeline), "-r", "100000", "-q"]
    cmd += ["EVALSHA", sha, "3", user, tenant, events, "10000000", "3600", "10000000", "3600", "0"]
    try:
        before = redis_cpu(client)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        cpu = (redis_cpu(client) - before) / requests * 1e6
        found = re.findall(r"([\d.]+) requests per second", out)
        if not found:
            raise RuntimeError(f"redis-benchmark said:\n{out}")
        return float(found[-1]), cpu
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for at in range(0, len(keys), 1000):
            client.unlink(*keys[at : at + 1000])
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per store operation")
    parser.add_argument("--concurrency", type=int, default=64, help="store calls in flight")
    parser.add_argument("--requests", type=int, default=300000, help="redis-benchmark requests")
    args = parser.parse_args()
    prefix = f"mfabench-{uuid.uuid4().hex[:8]}"
    with redis.Redis.from_url(REDIS_URL) as client:
        version = client.info("server")["redis_version"]
    print(f"Redis {version}, one instance on loopback (shared with the machine's other load)")
    costs = asyncio.run(store_costs(args, prefix))
    for name, label in (
        ("verify", "verify-otp (HGETALL + record_attempt)"),
        ("quota", "send quota (consume_quota)"),
    ):
        us = costs[name]
        print(
            f"  {label:<40} Redis CPU {us:5.1f} us/operation -> one thread's ceiling "
            f"~{1e6 / us:,.0f}/s (the client drove {costs[name + '_client_rate']:,.0f}/s)"
        )
    for pipeline in (1, 16):
        rate, us = saturation(prefix, pipeline, args.requests)
        print(
            f"  redis-benchmark EVALSHA consume_quota, 50 conns, pipeline {pipeline:>2}: "
            f"{rate:,.0f} calls/s, Redis CPU {us:.1f} us/call"
        )


if __name__ == "__main__":
    main()
