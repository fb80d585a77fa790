"""Benchmark: ``POST /api/verify-otp`` of ``mfa serve`` against the fairest floor.

Not a test: it prints figures and asserts nothing. Needs wrk, Redis on 127.0.0.1:6379
and the project installed with its dependencies (uvicorn[standard]: uvloop, httptools)::

    apt-get install wrk
    python3 -m venv .venv && .venv/bin/pip install -e .
    .venv/bin/python benchmarks/verify_otp.py [--users 9000] [--rounds 3] [--duration 4]
                                              [--py-spy FILE]   # pip install py-spy

Two servers, one process and one worker each, both on uvicorn with uvloop and
httptools and with the access log off (``--log-level warning``):

- **mfa**: ``mfa serve`` itself, configured by ``MFA_*`` variables (SQLite file in a
  temp dir, Redis DB 12, development keys), exactly the way it ships;
- **floor**: a bare Starlette app that does what any verify endpoint must do at the
  least: read the JSON body, one pyotp verify (window ±1, like mfa) and one
  ``EVALSHA`` of a small Lua script standing for the atomic attempt record, then 204.

Setup goes through the in-process API (the one the HTTP routes call) on the same
database and Redis: one tenant, ``--users`` users enrolled in TOTP with the code of
the *previous* time step, then two login transactions each. A time step is
accepted once per enrollment, so each user's first transaction gets this step's
code and the second the next step's; the second codes are all sent after the first
ones, at least 500 users later, so that a slow first request is not overtaken (it
would then rightly be refused as a replay). Every mfa request is thus a distinct,
valid verify that must answer 204; a run with any other answer is reported INVALID.

wrk (one thread: the other core runs the server, ``--concurrency`` connections)
drives mfa until its transactions of the round are used up or ``--duration``
passes, then the floor for as long. ``--rounds`` alternate, since others share the
machine; the figures of each round and their range are printed, with each
server's CPU time per verify (from /proc): its ratio moves less with the other load
on the machine than the throughput ratio does. Redis round trips
per verify are counted with ``MONITOR`` on a separate sample (MONITOR slows Redis):
every command of the mfa server's connections, a MULTI..EXEC block as one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyotp
import redis
from _processes import free_port, start_server  # benchmarks/ is on sys.path

REDIS_URL = "redis://127.0.0.1:6379/12"
ADMIN_KEY = "mfa_bench-operator-key-0123456789abcdefghijklmnop"
MFA_PATH, FLOOR_PATH = "/api/verify-otp", "/verify"
TARGET = 0.40

# The floor's stand-in for mfa's record_attempt script: one atomic write either way.
FLOOR_LUA = """
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', 90)
  return 1
end
return redis.call('INCR', KEYS[2])
"""

# wrk: one request per line of args[1] ("<bearer> <code>"). With args[2] == "once"
# the thread stops when its lines are used up and answered, and prints how long it
# was busy (wrk's own duration would count the idle tail).
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long s; long ns; } ts_t; int clock_gettime(int, ts_t *); ]]
local ts = ffi.new("ts_t")
local function now() ffi.C.clock_gettime(1, ts); return tonumber(ts.s) + tonumber(ts.ns) * 1e-9 end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  reqs, once, target = {}, args[2] == "once", args[3]
  for line in io.lines(args[1]) do
    local bearer, code = line:match("^(%S+) (%S+)$")
    reqs[#reqs + 1] = wrk.format("POST", target, {["Authorization"] = "Bearer " .. bearer,
      ["Content-Type"] = "application/json"}, '{"type":"manual_input","code":"' .. code .. '"}')
  end
  spare = wrk.format("GET", "/__no_more")  -- answered 404; not counted
  nxt, sent, got, spares, first, last, ok, bad, checked = 0, 0, 0, 0, 0, 0, 0, 0, false
end

function request()
  if not checked then checked = true; return spare end  -- wrk's dry call, never sent
  if first == 0 then first = now() end
  if nxt >= #reqs then
    if once then spares = spares + 1; return spare end
    nxt = 0
  end
  nxt = nxt + 1; sent = sent + 1
  return reqs[nxt]
end

function delay() if once and nxt >= #reqs then return 3600000 end return 0 end

function response(status)
  if spares > 0 and status == 404 then spares = spares - 1; return end
  got = got + 1; last = now()
  if status == 204 then ok = ok + 1 else bad = bad + 1 end
  if once and nxt >= #reqs and got == sent then
    io.write("BENCH_DONE\n"); io.flush(); wrk.thread:stop()
  end
end

function done(summary, latency)  -- runs apart from the thread: read its globals
  local t = threads[1]
  io.write(string.format('BENCH {"ok":%d,"bad":%d,"errors":%d,"elapsed":%.6f,"p50":%d,"p99":%d}\n',
    t:get("ok"), t:get("bad"), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, t:get("last") - t:get("first"), latency:percentile(50),
    latency:percentile(99)))
end
"""


# ------------------------------------------------------------------ the floor server


def serve_floor(port: int, secrets_file: str, prefix: str) -> None:
    import redis.asyncio as aioredis
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    secrets = json.loads(Path(secrets_file).read_text())  # user id -> base32 seed
    client = aioredis.Redis.from_url(REDIS_URL)
    record = client.register_script(FLOOR_LUA)

    async def verify(request: Request) -> Response:
        body = await request.json()
        user = request.headers["authorization"].removeprefix("Bearer ")
        ok = pyotp.TOTP(secrets[user]).verify(body["code"], valid_window=1)
        keys = [f"{prefix}:replay:{user}", f"{prefix}:fail:{user}"]
        await record(keys=keys, args=["1" if ok else "0", int(time.time()) // 30])
        return Response(status_code=204 if ok else 400)

    app = Starlette(routes=[Route(FLOOR_PATH, verify, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# ------------------------------------------------------------------ setup


def settings_env(workdir: Path) -> dict[str, str]:
    return {
        "MFA_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'mfa.db'}",
        "MFA_REDIS_URL": REDIS_URL,
        "MFA_ADMIN_KEY": ADMIN_KEY,
        "MFA_DEV_KEYS_PATH": str(workdir / "keys.json"),
        "MFA_ARGON2_PROFILE": "cheapest",
        "MFA_AUTO_MIGRATE": "true",
    }


async def enroll_users(env: dict[str, str], tenant: str, count: int) -> list[dict[str, Any]]:
    """Enroll ``count`` users in TOTP and open two login transactions for each."""
    from mfa import MFAService, Settings
    from mfa.errors import InvalidOtp
    from mfa.factors import totp
    from mfa.flows.records import PendingEnrollment, StartedTransaction
    from mfa.tokens import Credential

    service = MFAService(Settings.from_env(env))
    users: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(8)  # SQLite: a few writers at a time

    async def start(user_id: str) -> StartedTransaction:
        issued = await service.admin.issue_request_token(tenant, user_id)
        return await service.flows.start_flow(Credential("bearer", issued.token))

    async def one(index: int) -> None:
        user_id = f"user-{index:06d}"
        async with gate:
            started = await start(user_id)
            assert isinstance(started.enrollment, PendingEnrollment)
            secret = started.enrollment.otp_secret
            for attempt in (1, 2):
                # The previous step, so that this step's and the next one's are newer.
                code = totp.code_at(secret, time.time() - totp.PERIOD)
                try:
                    await service.flows.verify_otp(started.token, code)
                    break
                except InvalidOtp:
                    if attempt == 2:  # a step may end between the code and its check: once
                        raise
            tokens = [(await start(user_id)).token for _ in range(2)]
            users.append({"id": user_id, "secret": secret, "tokens": tokens})

    async with service:
        await service.admin.create_tenant(tenant, "Benchmark")
        await asyncio.gather(*(one(i) for i in range(count)))
    return sorted(users, key=lambda u: str(u["id"]))


def mfa_lines(users: list[dict[str, Any]]) -> list[str]:
    now = time.time()
    return [
        f"{u['tokens'][k]} {pyotp.TOTP(u['secret']).at(now + 30 * k)}\n"
        for k in (0, 1)
        for u in users
    ]


# ------------------------------------------------------------------ load and counting


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    server: tuple[int, int], path: str, lines: list[str], seconds: float, once: bool, args: Any
) -> dict[str, Any]:
    """wrk over the request lines against ``server`` (port, pid): {ok, bad, errors,
    elapsed, p50, p99, rate, cpu_us}; ``cpu_us`` is the server's CPU time per request,
    which the other load on the machine moves less than the rate."""
    port, pid = server
    cpu = cpu_seconds(pid)
    data = Path(args.workdir) / f"lines-{uuid.uuid4().hex[:6]}.txt"
    data.write_text("".join(lines))
    script = Path(args.workdir) / "bench.lua"
    script.write_text(WRK_LUA)
    cmd = [
        "wrk",
        "-t1",
        f"-c{args.concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout=10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
        "--",
        str(data),
        "once" if once else "cycle",
        path,
    ]
    out: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("BENCH_DONE"):
                proc.send_signal(signal.SIGINT)  # wrk would wait out -d; it reports at once
    found = [ln for ln in out if ln.startswith("BENCH ")]
    if not found:
        raise RuntimeError("wrk failed:\n" + "".join(out))
    result: dict[str, Any] = json.loads(found[-1][6:])
    done = result["ok"] + result["bad"]
    result["rate"] = done / max(result["elapsed"], 1e-9)
    result["cpu_us"] = (cpu_seconds(pid) - cpu) / max(done, 1) * 1e6
    return result


def spread(values: list[float]) -> str:
    low, mid, high = min(values), sorted(values)[len(values) // 2], max(values)
    return f"{low:.1%} .. {high:.1%} (median {mid:.1%})"


class Monitor:
    """Every command Redis receives while in the block (MONITOR, in a thread)."""

    def __enter__(self) -> Monitor:
        self.marker, self.commands = f"bench-monitor-end-{uuid.uuid4().hex}", []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        self.ready.wait(10)
        return self

    def _listen(self) -> None:
        with redis.Redis.from_url(REDIS_URL).monitor() as monitor:  # type: ignore[no-untyped-call]
            self.ready.set()
            for command in monitor.listen():
                if self.marker in command["command"]:
                    return
                self.commands.append(command)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # the last commands reach the stream
        with redis.Redis.from_url(REDIS_URL) as client:
            # The event relay moves streams in the background on its own named
            # connections (mfa.events.relay): not the verify path, not counted.
            self.relay = {
                (c["addr"].rsplit(":", 1)[0], c["addr"].rsplit(":", 1)[1])
                for c in client.client_list()
                if c.get("name") == "mfa-events-relay"
            }
            client.echo(self.marker)
        self.thread.join(10)

    def round_trips(self, tag: str) -> tuple[int, dict[str, int]]:
        """Round trips of the connections that touched keys with ``tag``."""

        def who(c: dict[str, Any]) -> tuple[str, str]:
            return c["client_address"], c["client_port"]

        ours = {who(c) for c in self.commands if tag in c["command"]} - self.relay
        trips, names, in_multi = 0, dict[str, int](), set()
        for c in self.commands:
            if c["client_type"] == "lua" or who(c) not in ours:
                continue  # commands run inside a script are no round trip
            name = c["command"].split(" ", 1)[0].strip('"').upper()
            names[name] = names.get(name, 0) + 1
            if who(c) in in_multi:
                if name in ("EXEC", "DISCARD"):
                    in_multi.discard(who(c))
                continue
            if name == "MULTI":
                in_multi.add(who(c))
            trips += 1
        return trips, names


# ------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> None:
    run_id = uuid.uuid4().hex[:8]
    tenant, floor_prefix = f"bench-{run_id}", f"benchfloor-{run_id}"
    env = settings_env(Path(args.workdir))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}; wrk -t1 -c{args.concurrency}; "
        "servers: uvicorn, uvloop, httptools, 1 worker"
    )
    started = time.monotonic()
    users = asyncio.run(enroll_users(env, tenant, args.users))
    print(
        f"setup: {len(users)} users enrolled, {2 * len(users)} transactions, "
        f"{time.monotonic() - started:.0f} s"
    )
    secrets = Path(args.workdir) / "secrets.json"
    secrets.write_text(json.dumps({u["id"]: u["secret"] for u in users}))
    mfa_port, floor_port = free_port(), free_port()
    mfa_cmd = [
        str(Path(sys.executable).parent / "mfa"),
        "serve",
        "--port",
        str(mfa_port),
        "--log-level",
        "warning",
    ]
    floor_cmd = [
        sys.executable,
        __file__,
        "--floor",
        str(floor_port),
        secrets.as_posix(),
        floor_prefix,
    ]
    procs = [
        start_server(mfa_cmd, env, mfa_port, Path(args.workdir) / "mfa.log"),
        start_server(floor_cmd, {}, floor_port, Path(args.workdir) / "floor.log"),
    ]
    try:
        # Slices: warm-up, the MONITOR sample, then one per round.
        per_round = (len(users) - 600) // args.rounds
        slices = [users[:100], users[100:600]] + [
            users[600 + r * per_round : 600 + (r + 1) * per_round] for r in range(args.rounds)
        ]
        mfa, floor = (mfa_port, procs[0].pid), (floor_port, procs[1].pid)

        def floor_lines() -> list[str]:
            # This step's codes, made again for each floor round: a run of several
            # rounds outlasts the ±1 step window, and stale codes would make the floor
            # answer refusals (less work than a verify) and the run INVALID.
            return [f"{u['id']} {pyotp.TOTP(u['secret']).now()}\n" for u in users]

        wrk(mfa, MFA_PATH, mfa_lines(slices[0]), 5, True, args)  # warm-up
        wrk(floor, FLOOR_PATH, floor_lines(), 1, False, args)
        with Monitor() as monitor:
            sample = wrk(mfa, MFA_PATH, mfa_lines(slices[1]), 10, True, args)
        trips, names = monitor.round_trips("{" + tenant + "}")
        invalid = sample["bad"] + sample["errors"]
        ratios, cpu_ratios = [], []
        for r in range(args.rounds):
            spy = None
            if args.py_spy and r == 0:  # sample the mfa server over the first round
                options = f"record --rate 500 --format raw --pid {mfa[1]} --output".split()
                py_spy = str(Path(sys.executable).parent / "py-spy")
                spy = subprocess.Popen([py_spy, *options, args.py_spy], stderr=subprocess.DEVNULL)
                time.sleep(1)
            m = wrk(mfa, MFA_PATH, mfa_lines(slices[2 + r]), args.duration, True, args)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(30)
            f = wrk(floor, FLOOR_PATH, floor_lines(), m["elapsed"], False, args)
            invalid += m["bad"] + m["errors"] + f["bad"] + f["errors"]
            ratios.append(m["rate"] / f["rate"])
            cpu_ratios.append(f["cpu_us"] / m["cpu_us"])
            for name, x in (("mfa", m), ("floor", f)):
                print(
                    f"round {r + 1} {name:<5} {x['rate']:7.0f} verifies/s  "
                    f"p50 {x['p50'] / 1000:6.2f} ms  p99 {x['p99'] / 1000:6.2f} ms  "
                    f"({x['ok']} x 204, {x['bad']} other, "
                    f"{x['errors']} socket errors, {x['elapsed']:.1f} s), "
                    f"server CPU {x['cpu_us']:.0f} us/verify"
                )
            print(
                f"round {r + 1} ratio mfa / floor: {ratios[-1]:.1%} (by CPU {cpu_ratios[-1]:.1%})"
            )
        print(
            f"\nover {args.rounds} rounds (target >= {TARGET:.0%} of the floor), load "
            f"{os.getloadavg()[0]:.2f}:\n  ratio mfa / floor, verifies/s:  {spread(ratios)}\n"
            f"  ratio by server CPU per verify: {spread(cpu_ratios)}"
        )
        per = ", ".join(f"{n} {c / max(sample['ok'], 1):.2f}" for n, c in sorted(names.items()))
        print(
            f"Redis round trips per verify (MONITOR, {sample['ok']} verifies): "
            f"{trips / max(sample['ok'], 1):.2f} [{per}]"
        )
        if invalid:
            print(f"RESULT: INVALID, {invalid} answers were not 204: the figures mean nothing")
            sys.exit(1)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        with redis.Redis.from_url(REDIS_URL) as client:
            keys = [
                key
                for pattern in (f"mfa:{{{tenant}}}:*", f"{floor_prefix}:*")
                for key in client.scan_iter(match=pattern, count=1000)
            ]
            # Tickets are global keys (mfa:ticket:<id>); ours name the run's tenant.
            tickets = list(client.scan_iter(match="mfa:ticket:*", count=1000))
            values = client.mget(tickets) if tickets else []
            keys += [k for k, v in zip(tickets, values, strict=True) if v and tenant.encode() in v]
            for at in range(0, len(keys), 1000):
                client.unlink(*keys[at : at + 1000])


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--floor":
        serve_floor(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=9000, help="enrolled users (2 verifies each)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating mfa/floor rounds")
    parser.add_argument("--duration", type=float, default=4.0, help="at most, seconds per phase")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk connections")
    parser.add_argument("--py-spy", metavar="FILE", help="py-spy raw stacks of mfa, round 1")
    args = parser.parse_args()
    # A user's second code (the next step) follows the first by half a slice; a slice
    # of fewer users lets it overtake a slow first one, which is then a replay.
    if args.users < 600 + 1000 * args.rounds:
        parser.error("--users: at least 600 + 1000 per round")
    with tempfile.TemporaryDirectory(prefix="mfa-bench-", dir="/dev/shm") as workdir:
        args.workdir = workdir
        run(args)


if __name__ == "__main__":
    main()
