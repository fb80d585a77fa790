"""Benchmark: a mixed load (start-flow, verify-otp, send-sms) on ``mfa serve --workers 1``
then ``--workers 2``, on PostgreSQL and Redis, and the ratio between them.

Not a test: it prints figures and asserts nothing. Needs wrk, PostgreSQL on
127.0.0.1:5432 (trust auth; a database of its own is created and dropped), Redis on
127.0.0.1:6379 (DB 11; the run's keys are removed afterwards) and the project
installed with its dependencies (uvicorn[standard]: uvloop, httptools)::

    apt-get install wrk
    python3 -m venv .venv && .venv/bin/pip install -e '.[test]'
    .venv/bin/python benchmarks/load_mixed.py [--rounds 1] [--duration 6] [--users 3000]
                                              [--ops start,verify,sms] [--workers 1,2]

Each round runs one phase per worker count. A phase prepares fresh data in process
(the API the HTTP routes call, on the same database and Redis), starts ``mfa
serve --workers N --log-level warning`` as it ships (uvicorn, uvloop, httptools, no
access log), warms it up for a second, then runs one wrk per operation at the same
time, each with its own connections (one wrk thread each), for ``--duration``
seconds or until one operation's one-time requests run out:

- **start-flow** (32 connections): a distinct request token per request, for users
  enrolled in TOTP; each opens a login transaction (200).
- **verify-otp** (8): a distinct valid code per request, as in
  ``benchmarks/verify_otp.py`` (users enrolled with the previous step's code, two
  login transactions each, this step's and the next step's codes) (204).
- **send-sms** (4): login transactions of SMS-enrolled users, cycled; the webhook
  transport POSTs each message, signed, to a small receiver in another process,
  which counts them (so each send is real) (204). Quotas are set high; a quota
  refusal (429) would be counted apart, any other answer is an error.

The mix follows from the connections and each operation's latency (printed as
shares of the total); the connections are set for about 40 % start-flow, 50 %
verify-otp, 10 % send-sms on the development machine (start-flow is the slowest).
For each phase: per-operation requests/s, p50, p99, answers and errors; the CPU
time per request of the server (master and workers, from /proc), of Redis (``INFO
cpu``) and of PostgreSQL (all its processes), both shared with whatever else runs
on the machine; and how busy the machine's cores were. Then the 2-worker /
1-worker ratios per operation. The load generator, the receiver, PostgreSQL and
Redis share the machine's cores with the server: on a 2-core machine a second
worker finds no idle core, and the ratio stays near 1 (below it when the machine
is busy with other work); run it where the server has cores of its own to see
what workers add.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyotp
import redis
from _processes import free_port, start_server  # benchmarks/ is on sys.path

REDIS_URL = "redis://127.0.0.1:6379/11"
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"}
ADMIN_KEY = "mfa_bench-operator-key-0123456789abcdefghijklmnop"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
SMS_USERS = 64
PHONE = "+447911{:06d}"

# (name, path, connections, expected status, one-time lines?)
OPS = {
    "start": ("/api/start-flow", 32, 200, True),
    "verify": ("/api/verify-otp", 8, 204, True),
    "sms": ("/api/send-sms", 4, 204, False),
}

# wrk: one request per line of args[1] ("<bearer>" or "<bearer> <code>"). With
# args[2] == "once" the thread stops when its lines are used up and answered.
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long s; long ns; } ts_t; int clock_gettime(int, ts_t *); ]]
local ts = ffi.new("ts_t")
local function now() ffi.C.clock_gettime(1, ts); return tonumber(ts.s) + tonumber(ts.ns) * 1e-9 end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  reqs, once, path, expect = {}, args[2] == "once", args[3], tonumber(args[4])
  for line in io.lines(args[1]) do
    local bearer, code = line:match("^(%S+) ?(%S*)$")
    local body = '{}'
    if code ~= "" then body = '{"type":"manual_input","code":"' .. code .. '"}' end
    reqs[#reqs + 1] = wrk.format("POST", path, {["Authorization"] = "Bearer " .. bearer,
      ["Content-Type"] = "application/json"}, body)
  end
  spare = wrk.format("GET", "/__no_more")  -- answered 404; not counted
  nxt, sent, got, spares, first, last, ok, refused, bad, checked = 0, 0, 0, 0, 0, 0, 0, 0, 0, false
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
  if status == expect then ok = ok + 1 elseif status == 429 then refused = refused + 1
  else bad = bad + 1 end
  if once and nxt >= #reqs and got == sent then
    io.write("BENCH_DONE\n"); io.flush(); wrk.thread:stop()
  end
end

function done(summary, latency)
  local t = threads[1]
  io.write(string.format('BENCH {"ok":%d,"refused":%d,"bad":%d,"errors":%d,"elapsed":%.6f,' ..
    '"p50":%d,"p99":%d}\n', t:get("ok"), t:get("refused"), t:get("bad"),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    t:get("last") - t:get("first"), latency:percentile(50), latency:percentile(99)))
end
"""


# ------------------------------------------------------------------ SMS receiver


def serve_receiver(port: int) -> None:
    """The webhook's far end: 200 to every POST, counts them; GET answers the count."""
    count = [0]

    class Receiver(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buf = cast(asyncio.Transport, transport), b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                head = self.buf[:end].lower()
                found = re.search(rb"content-length:\s*(\d+)", head)
                size = int(found.group(1)) if found else 0
                if len(self.buf) < end + 4 + size:
                    return
                self.buf = self.buf[end + 4 + size :]
                if head.startswith(b"get"):
                    body = str(count[0]).encode()
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                    self.transport.write(head + body)
                    self.transport.close()
                else:
                    count[0] += 1
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(main())


def received(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


# ------------------------------------------------------------------ PostgreSQL


def pg_admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    async def run() -> None:
        conn = await asyncpg.connect(**PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


# ------------------------------------------------------------------ setup


def settings_env(workdir: Path, database: str, receiver_port: int) -> dict[str, str]:
    return {
        "MFA_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "MFA_REDIS_URL": REDIS_URL,
        "MFA_ADMIN_KEY": ADMIN_KEY,
        "MFA_DEV_KEYS_PATH": str(workdir / "keys.json"),
        "MFA_ARGON2_PROFILE": "cheapest",
        "MFA_AUTO_MIGRATE": "true",
        "MFA_SMS_TRANSPORT": "webhook",
        "MFA_SMS_WEBHOOK_URL": f"http://127.0.0.1:{receiver_port}/sms",
        "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Prepared transactions and tokens must outlive setup and the phase.
        "MFA_TRANSACTION_TTL_SECONDS": "3600",
        "MFA_REQUEST_TOKEN_TTL_SECONDS": "3600",
    }


@dataclass
class Phase:
    start: list[str]  # lines: request tokens
    verify: list[str]  # lines: "<transaction token> <code>"
    sms: list[str]  # lines: login transaction tokens of SMS users


async def prepare(env: dict[str, str], tenant: str, users: int, first: bool) -> Phase:
    """Enroll ``users`` TOTP users (two login transactions each) and open the other
    operations' transactions; on the first call, create the tenant and its SMS users."""
    from mfa import MFAService, Settings
    from mfa.errors import InvalidOtp
    from mfa.factors import totp
    from mfa.flows.records import PendingEnrollment, StartedTransaction
    from mfa.names import Quota, QuotaName
    from mfa.tokens import Credential
    from transports.outbox import Outbox

    # Setup sends its SMS to an outbox, to read the enrollment codes.
    service = MFAService(Settings.from_env({**env, "MFA_SMS_TRANSPORT": "outbox"}))
    gate = asyncio.Semaphore(16)
    tag = uuid.uuid4().hex[:6]

    async def start(user_id: str) -> StartedTransaction:
        issued = await service.admin.issue_request_token(tenant, user_id)
        return await service.flows.start_flow(Credential("bearer", issued.token))

    async def totp_user(index: int) -> tuple[str, str, list[str]]:
        user_id = f"u-{tag}-{index:06d}"
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
                    if attempt == 2:  # a step may end between the code and its check
                        raise
            tokens = [(await start(user_id)).token for _ in range(2)]
            return user_id, secret, tokens

    async def sms_user(index: int, enroll: bool) -> str:
        user_id, phone = f"sms-{index:04d}", PHONE.format(index)
        async with gate:
            started = await start(user_id)
            if enroll:
                tx, eid = started.token, started.enrollment.enrollment_id
                await service.flows.sms_enroll(tx, eid, phone)
                assert isinstance(service.sms, Outbox)
                code = service.sms.last_code(phone)
                assert code is not None
                await service.flows.verify_otp(tx, code)
                started = await start(user_id)
            return started.token

    async def request_token(user_id: str) -> str:
        async with gate:
            return (await service.admin.issue_request_token(tenant, user_id)).token

    async with service:
        if first:
            await service.admin.create_tenant(tenant, "Benchmark")
            big = Quota(10_000_000, 3600)
            await service.admin.set_quotas(
                tenant, {QuotaName.SMS_PER_USER.value: big, QuotaName.SMS_PER_TENANT.value: big}
            )
        enrolled = await asyncio.gather(*(totp_user(i) for i in range(users)))
        sms = await asyncio.gather(*(sms_user(i, first) for i in range(SMS_USERS)))
        starts = await asyncio.gather(
            *(request_token(enrolled[i % users][0]) for i in range(2 * users))
        )
    now = time.time()
    # Every user's first code, then every second one: a second code (the next step)
    # never overtakes the first of the same user, which would make the first a replay.
    verify = [
        f"{tokens[k]} {pyotp.TOTP(secret).at(now + 30 * k)}"
        for k in (0, 1)
        for _, secret, tokens in enrolled
    ]
    return Phase(start=list(starts), verify=verify, sms=list(sms))


# ------------------------------------------------------------------ processes


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def family(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return found


def cpu_times(pids: list[int]) -> dict[tuple[int, int], float]:
    """User + system CPU seconds of each live process (Linux /proc), keyed by pid
    and start time: a pid reused by a new process is another process."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            found[pid, int(fields[19])] = seconds
    return found


def cpu_used(before: dict[tuple[int, int], float], pids: list[int]) -> float:
    """CPU seconds used since ``before`` by the processes alive at both ends (a
    process that ended meanwhile takes its time with it)."""
    after = cpu_times(pids)
    return sum(after[p] - before[p] for p in before.keys() & after.keys())


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine (others' included)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                found.append(int(entry.name))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def redis_cpu() -> float:
    with redis.Redis.from_url(REDIS_URL) as client:
        info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_wrks(
    port: int, lines: dict[str, list[str]], seconds: float, workdir: Path
) -> dict[str, dict[str, Any]]:
    """One wrk per operation, all at once; stopped together when one runs out of its
    one-time lines or the time is up."""
    script = workdir / "mixed.lua"
    script.write_text(WRK_LUA)
    procs: dict[str, subprocess.Popen[str]] = {}
    for op, data in lines.items():
        path, conns, expect, once = OPS[op]
        file = workdir / f"{op}-{uuid.uuid4().hex[:6]}.txt"
        file.write_text("\n".join(data) + "\n")
        cmd = [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{max(1, round(seconds))}s",
            "--timeout=10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
            "--",
            str(file),
            "once" if once else "cycle",
            path,
            str(expect),
        ]
        procs[op] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    outputs: dict[str, list[str]] = {op: [] for op in procs}
    exhausted: list[str] = []

    def read(op: str) -> None:
        stream = procs[op].stdout
        assert stream is not None
        for line in stream:
            outputs[op].append(line)
            if line.startswith("BENCH_DONE"):
                exhausted.append(op)
                for other in procs.values():  # wrk reports at once on SIGINT
                    with contextlib.suppress(OSError):
                        other.send_signal(signal.SIGINT)

    readers = [threading.Thread(target=read, args=(op,)) for op in procs]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    for proc in procs.values():
        proc.wait()
    results = {}
    for op, out in outputs.items():
        found = [ln for ln in out if ln.startswith("BENCH ")]
        if not found:
            raise RuntimeError(f"wrk {op} failed:\n" + "".join(out))
        r: dict[str, Any] = json.loads(found[-1][6:])
        r["rate"] = (r["ok"] + r["refused"] + r["bad"]) / max(r["elapsed"], 1e-9)
        r["exhausted"] = op in exhausted[:1]
        results[op] = r
    return results


# ------------------------------------------------------------------ a phase


def phase(
    workers: int, env: dict[str, str], data: Phase, ops: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    workdir, port = Path(args.workdir), free_port()
    cmd = [str(Path(sys.executable).parent / "mfa"), "serve", "--workers", str(workers)]
    cmd += ["--port", str(port), "--log-level", "warning"]
    server = start_server(cmd, env, port, workdir / f"mfa-{workers}.log")
    try:
        time.sleep(1.0 if workers > 1 else 0.3)  # every worker up
        warm = {
            "start": data.start[:300],
            "verify": data.verify[:150] + data.verify[len(data.verify) // 2 :][:150],
            "sms": data.sms,
        }
        run_wrks(port, {op: warm[op] for op in ops}, 1, workdir)
        main = {
            "start": data.start[300:],
            "verify": data.verify[150 : len(data.verify) // 2]
            + data.verify[len(data.verify) // 2 + 150 :],
            "sms": data.sms,
        }
        pids, pg = family(server.pid), postgres_pids()
        cpu, rcpu, pcpu = cpu_times(pids), redis_cpu(), cpu_times(pg)
        busy, ticks = machine_busy()
        sms_before = received(args.receiver_port)
        results = run_wrks(port, {op: main[op] for op in ops}, args.duration, workdir)
        done = sum(r["ok"] + r["refused"] + r["bad"] for r in results.values())
        busy_after, ticks_after = machine_busy()
        return {
            "ops": results,
            "total": sum(r["rate"] for r in results.values()),
            "cpu_us": cpu_used(cpu, pids) / max(done, 1) * 1e6,
            "redis_us": (redis_cpu() - rcpu) / max(done, 1) * 1e6,
            "pg_us": cpu_used(pcpu, pg) / max(done, 1) * 1e6,
            "busy": (busy_after - busy) / max(ticks_after - ticks, 1),
            "received": received(args.receiver_port) - sms_before,
        }
    finally:
        stop(server)


def show(label: str, result: dict[str, Any]) -> int:
    """Print a phase; the count of wrong answers."""
    wrong = 0
    total = result["total"]
    for op, r in result["ops"].items():
        wrong += r["bad"] + r["errors"]
        flag = "  (ran out of requests: the phase ended there)" if r["exhausted"] else ""
        print(
            f"  {label} {op:<6} {r['rate']:6.0f}/s ({r['rate'] / total:4.0%})  "
            f"p50 {r['p50'] / 1000:6.1f} ms  p99 {r['p99'] / 1000:6.1f} ms  "
            f"{r['ok']} ok, {r['refused']} quota-refused, {r['bad']} other, "
            f"{r['errors']} socket errors, {r['elapsed']:.1f} s{flag}"
        )
    sms = result["ops"].get("sms")
    # Sends cut off by the stop are still delivered: received >= answered.
    sent = f"; {result['received']} SMS received for {sms['ok']} sends answered" if sms else ""
    print(
        f"  {label} total  {total:6.0f}/s  CPU per request: server {result['cpu_us']:.0f} us, "
        f"Redis {result['redis_us']:.0f} us, PostgreSQL {result['pg_us']:.0f} us "
        f"(all its processes); machine {result['busy']:.0%} busy{sent}"
    )
    return wrong


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high, mid = min(values), max(values), statistics.median(values)
    return f"{fmt.format(low)} .. {fmt.format(high)} (median {fmt.format(mid)})"


def run(args: argparse.Namespace) -> None:
    run_id = uuid.uuid4().hex[:8]
    tenant, database = f"bench-{run_id}", f"mfa_bench_{run_id}"
    ops = args.ops.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    workdir = Path(args.workdir)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores (shared by server, "
        f"wrk and the SMS receiver), load {os.getloadavg()[0]:.2f}; "
        f"ops {', '.join(f'{op} x{OPS[op][1]} conns' for op in ops)}; {args.duration:.0f} s each"
    )
    args.receiver_port = free_port()
    receiver = start_server(
        [sys.executable, __file__, "--receiver", str(args.receiver_port)],
        {},
        args.receiver_port,
        workdir / "receiver.log",
    )
    pg_admin(f'CREATE DATABASE "{database}"')
    env = settings_env(workdir, database, args.receiver_port)
    results: dict[int, list[dict[str, Any]]] = {w: [] for w in counts}
    wrong = 0
    try:
        first = True
        for r in range(args.rounds):
            for w in counts:
                started = time.monotonic()
                data = asyncio.run(prepare(env, tenant, args.users, first))
                first = False
                took = time.monotonic() - started
                result = phase(w, env, data, ops, args)
                results[w].append(result)
                print(f"round {r + 1}, --workers {w} (setup {took:.0f} s):")
                wrong += show(f"{w}w", result)
        if len(counts) > 1:
            base, top = counts[0], counts[-1]
            print(f"\nratios --workers {top} / --workers {base} over {args.rounds} round(s):")
            pairs = list(zip(results[base], results[top], strict=True))
            for op in ops:
                rate = [t["ops"][op]["rate"] / b["ops"][op]["rate"] for b, t in pairs]
                p50 = [t["ops"][op]["p50"] / max(b["ops"][op]["p50"], 1) for b, t in pairs]
                p99 = [t["ops"][op]["p99"] / max(b["ops"][op]["p99"], 1) for b, t in pairs]
                print(
                    f"  {op:<6} throughput x {spread(rate)}; p50 x {spread(p50)}; "
                    f"p99 x {spread(p99)}"
                )
            total = [t["total"] / b["total"] for b, t in pairs]
            print(f"  total  throughput x {spread(total)}")
        if wrong:
            print(f"RESULT: INVALID, {wrong} wrong answers or socket errors")
            sys.exit(1)
    finally:
        stop(receiver)
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cleanup(tenant)


def cleanup(tenant: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"mfa:{{{tenant}}}:*", count=1000))
        # Tickets are global keys (mfa:ticket:<id>); ours name the run's tenant.
        tickets = list(client.scan_iter(match="mfa:ticket:*", count=1000))
        for at in range(0, len(tickets), 1000):
            chunk = tickets[at : at + 1000]
            values = client.mget(chunk)
            keys += [k for k, v in zip(chunk, values, strict=True) if v and tenant.encode() in v]
        for at in range(0, len(keys), 1000):
            client.unlink(*keys[at : at + 1000])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--receiver":
        serve_receiver(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all worker counts")
    parser.add_argument("--duration", type=float, default=6.0, help="at most, seconds per phase")
    parser.add_argument("--users", type=int, default=3000, help="TOTP users per phase")
    parser.add_argument("--ops", default="start,verify,sms", help="operations to run at once")
    parser.add_argument("--workers", default="1,2", help="worker counts, in order")
    args = parser.parse_args()
    if set(args.ops.split(",")) - set(OPS):
        parser.error(f"--ops: among {', '.join(OPS)}")
    if args.users < 500:
        parser.error("--users: at least 500")
    with tempfile.TemporaryDirectory(prefix="mfa-load-", dir="/dev/shm") as workdir:
        args.workdir = workdir
        run(args)


if __name__ == "__main__":
    main()
