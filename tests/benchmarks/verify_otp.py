"""Benchmark: ``POST /api/verify-otp`` under concurrent load, against a bare floor.

Not a test (pytest does not collect it; nothing here asserts). Run it by hand::

    . .venv/bin/activate
    python tests/benchmarks/verify_otp.py [--users N] [--concurrency C] [--duration S]
                                          [--generator auto|wrk|python] [--profile]

Method
------
1. Setup, in this process through ``service.admin`` / ``service.flows`` (the
   in-process API the HTTP routes call): one tenant and N users, each enrolled in
   TOTP (start-flow, then verify-otp with the code of the *previous* time step),
   then ``--tx-per-user`` login transactions opened per user. The SQLite file and
   the dev keys live in a temp dir (on /dev/shm when there is one: SQLite is not on
   the verify path, it only slows the setup down); the ephemeral store is the real
   Redis, DB 15, under a key prefix unique to the run.
2. Two servers, each a separate process under uvicorn (one worker; uvloop and
   httptools only if installed; access log off on both):

   - **mfa**: ``create_app`` over an ``MFAService`` on that SQLite file and Redis;
   - **floor**: a bare Starlette app, one POST route that parses the JSON body,
     does one Redis ``GET`` (the user's secret) and one
     ``pyotp.TOTP(secret).verify(code, valid_window=1)`` (the window mfa uses) and
     answers 204. It is what any verify endpoint has to do at the least.

3. Load: the same generator, with the same number of connections, drives both in
   this run: first mfa, where every request is a different open login transaction
   with its right code, so every answer *must* be 204; then the floor (cycling
   over the users' secrets) for as long as the mfa phase took. A verify is
   accepted once per transaction and once per time step per enrollment: with
   ``--tx-per-user 2`` a user's first transaction gets the current step's code and
   the second the next step's (both within mfa's ±1 window; enrollment used the
   step before). The mfa phase ends at ``--duration`` or when its transactions run
   out, whichever comes first; rates are over the time actually measured. ``wrk``
   (one thread: the other core is the server's) is used when it is on the PATH,
   else a small asyncio HTTP/1.1 keep-alive client of this file (``--generator``).
4. Redis round trips: a separate sample of verifies runs while a ``MONITOR``
   connection records every command. The commands of the mfa server's own
   connections (those that touched the run's key prefix) are divided by the
   verifies: commands run *inside* a Lua script are not round trips and are left
   out, so is a new connection's handshake, and a MULTI..EXEC block counts once.
   ``INFO commandstats`` deltas over the mfa phase are printed as a cross-check;
   they are server-wide, so other clients of the same Redis show up there.
5. ``--profile``: one more mfa phase, sampled with py-spy when it is on the PATH
   (``pip install py-spy``; not a dependency of the project), else profiled with
   cProfile switched on inside the server by signals. It prints where the server's
   CPU goes: by package, by stage of a verify and by function.

Reading the output
------------------
Per phase: ``req/s`` (completed requests per second), ``p50``/``p99`` latency as
the generator saw it (queueing included: with C connections p50 is about
C / req/s), ``server CPU us/req`` (the server process's user+system CPU over the
phase, per request), and the count of non-204 answers. Then:

- ``ratio mfa / floor``: mfa's req/s over the floor's; the target is >= 40 %.
  ``by server CPU`` is the same ratio from CPU per request (floor / mfa); it moves
  less with other load on the machine, which is printed as the load average.
- ``Redis round trips per verify``: the target is <= 2 (HGETALL of the
  transaction, EVALSHA of ``record_attempt``).
- ``RESULT: INVALID`` when any answer was not 204: a benchmark of errors measures
  nothing, and the figures of such a run mean nothing.
- PASS/FAIL per target. The script reports; it asserts nothing and exits 0 unless
  the run was invalid (1) or could not run (2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import functools
import importlib.util
import json
import logging
import math
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import redis
import redis.asyncio as aioredis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mfa import MFAService, Settings, create_app
from mfa.admin import OPERATOR
from mfa.errors import InvalidOtp
from mfa.factors import totp
from mfa.storage.base import BackendUnavailable
from mfa.storage.redis import RedisEphemeralStore
from mfa.tokens import Credential

REDIS_URL = "redis://127.0.0.1:6379/15"
ADMIN_KEY = "mfa_bench-operator-key-0123456789abcdefghijklmnop"
TENANT = "bench"
MFA_PATH = "/api/verify-otp"
FLOOR_PATH = "/verify"
TARGET_RATIO = 0.40
MAX_ROUND_TRIPS = 2.0
LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
HTTP = "httptools" if importlib.util.find_spec("httptools") else "h11"
SETUP_CONCURRENCY = 4
REQUEST_TIMEOUT = 10.0
HANDSHAKE = frozenset({"HELLO", "AUTH", "SELECT", "CLIENT", "PING", "READONLY"})


# ---------------------------------------------------------------------- servers


def mfa_settings(workdir: Path, redis_url: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'mfa.db'}",
        redis_url=redis_url,
        admin_key=ADMIN_KEY,
        dev_keys_path=str(workdir / "keys.json"),
        argon2_profile="cheapest",
        auto_migrate=True,
        sms_transport="outbox",
        push_transport="outbox",
    )


def mfa_service(workdir: Path, redis_url: str, prefix: str) -> MFAService:
    settings = mfa_settings(workdir, redis_url)
    store = RedisEphemeralStore(redis_url, prefix=prefix, timeout=settings.backend_timeout_seconds)
    return MFAService(settings, ephemeral=store)


def floor_app(redis_url: str, prefix: str) -> Starlette:
    """One Redis round trip and one pyotp verify: the least a verify endpoint does."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)

    async def verify(request: Request) -> Response:
        body = await request.json()
        user = request.headers["authorization"].removeprefix("Bearer ")
        secret = await client.get(f"{prefix}:{user}")
        if secret is not None and pyotp.TOTP(str(secret)).verify(body["code"], valid_window=1):
            return Response(status_code=204)
        return Response(status_code=400)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(routes=[Route(FLOOR_PATH, verify, methods=["POST"])], lifespan=lifespan)


def serve(args: argparse.Namespace) -> None:
    """Child process: run one of the two apps under uvicorn until SIGTERM."""
    if args.serve == "mfa":
        app = create_app(service=mfa_service(Path(args.workdir), args.redis_url, args.prefix))
    else:
        app = floor_app(args.redis_url, args.prefix)
    if args.profile_out:
        profiler = cProfile.Profile()

        def start(signum: int, frame: object) -> None:
            profiler.enable()

        def stop(signum: int, frame: object) -> None:
            profiler.disable()
            partial = args.profile_out + ".part"
            profiler.dump_stats(partial)
            os.replace(partial, args.profile_out)

        signal.signal(signal.SIGUSR1, start)
        signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop=LOOP,
        http=HTTP,
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark itself is killed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    profile_out: Path | None = None

    @classmethod
    def start(
        cls,
        name: str,
        workdir: Path,
        redis_url: str,
        prefix: str,
        profile: bool = False,
    ) -> Server:
        port = free_port()
        log_path = workdir / f"{name}-server.log"
        profile_out = workdir / f"{name}.prof" if profile else None
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            name,
            "--port",
            str(port),
            "--workdir",
            str(workdir),
            "--redis-url",
            redis_url,
            "--prefix",
            prefix,
        ]
        if profile_out is not None:
            cmd += ["--profile-out", str(profile_out)]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop the servers
                preexec_fn=_die_with_parent,
            )
        return cls(name, port, proc, log_path, profile_out)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return  # uvicorn listens once the lifespan start-up is done
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} server not ready in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------------- setup


@dataclass
class User:
    user_id: str
    secret: str
    tokens: list[str] = field(default_factory=list)  # open login transactions, in order


async def _retry(make: Callable[[], Any], attempts: int = 8) -> Any:
    """SQLite refuses concurrent writers now and then ("database is locked")."""
    for attempt in range(attempts):
        try:
            return await make()
        except BackendUnavailable:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def prepare_users(
    service: MFAService, count: int, tx_per_user: int, report: Callable[[str], None]
) -> list[User]:
    """Enroll ``count`` users in TOTP and open ``tx_per_user`` login transactions each."""
    await service.admin.create_tenant(OPERATOR, TENANT, "Benchmark")
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    users: list[User] = []

    async def start(user_id: str) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            token, _ = await service.admin.issue_request_token(OPERATOR, TENANT, user_id)
            return await service.flows.start_flow(Credential("bearer", token))

        body: dict[str, Any] = await _retry(once)
        return body

    async def enroll(index: int) -> None:
        user_id = f"user-{index:06d}"
        async with gate:
            body = await start(user_id)
            secret = str(body["device_account"]["otp_secret"])
            token = str(body["transaction_token"])
            for attempt in range(2):
                # The previous step: login codes (this step and the next) must be newer.
                code = totp.code_at(secret, time.time() - totp.PERIOD)
                try:
                    await _retry(functools.partial(service.flows.verify_otp, token, code))
                    break
                except InvalidOtp:
                    if attempt:  # a step ended between the code and its check: once
                        raise
            users.append(User(user_id, secret))

    async def open_logins(user: User) -> None:
        async with gate:
            for _ in range(tx_per_user):
                body = await start(user.user_id)
                user.tokens.append(str(body["transaction_token"]))

    started = time.perf_counter()
    await asyncio.gather(*(enroll(i) for i in range(count)))
    enrolled = time.perf_counter()
    await asyncio.gather(*(open_logins(u) for u in users))
    report(
        f"setup: {count} users enrolled in {enrolled - started:.1f} s, "
        f"{count * tx_per_user} login transactions opened in "
        f"{time.perf_counter() - enrolled:.1f} s"
    )
    users.sort(key=lambda u: u.user_id)
    return users


def verify_requests(
    users: list[User], now: float, passes: int | None = None
) -> list[tuple[str, str]]:
    """(bearer, code) per login transaction: the users' first transactions with this
    step's code, then their second ones with the next step's code; a user's second
    code is sent only after all the first ones were, so it cannot overtake the first
    and be refused as a replay (the phase needs many more users than connections)."""
    out: list[tuple[str, str]] = []
    if passes is None:
        passes = max((len(u.tokens) for u in users), default=0)
    for k in range(passes):
        for u in users:
            if k < len(u.tokens):
                out.append((u.tokens[k], totp.code_at(u.secret, now + k * totp.PERIOD)))
    return out


def floor_requests(users: list[User], now: float) -> list[tuple[str, str]]:
    return [(u.user_id, totp.code_at(u.secret, now)) for u in users]


# ---------------------------------------------------------------------- load


@dataclass
class LoadResult:
    label: str
    generator: str
    completed: int
    elapsed: float
    statuses: Counter[str]
    p50_ms: float
    p99_ms: float
    exhausted: bool = False
    server_cpu: float = math.nan  # seconds of CPU the server used over the phase

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get("204", 0)

    @property
    def failures(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "204")

    @property
    def cpu_per_request_us(self) -> float:
        return self.server_cpu / max(self.completed, 1) * 1e6

    def line(self) -> str:
        bad = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()) if s != "204")
        extra = " (transactions ran out)" if self.exhausted else ""
        return (
            f"{self.label:<6} {self.rps:9.0f} req/s   p50 {self.p50_ms:7.2f} ms   "
            f"p99 {self.p99_ms:7.2f} ms   server CPU {self.cpu_per_request_us:5.0f} us/req   "
            f"{self.completed} requests in {self.elapsed:.1f} s{extra}; "
            f"non-204: {self.failures}" + (f" ({bad})" if bad else "")
        )


def raw_request(path: str, port: int, bearer: str, code: str) -> bytes:
    body = json.dumps({"type": "manual_input", "code": code}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class _Source:
    """The shared request queue of the Python generator's connections."""

    def __init__(self, requests: list[bytes], cycle: bool) -> None:
        self.requests = requests
        self.cycle = cycle
        self.index = 0
        self.deadline = math.inf
        self.exhausted = False
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.last = 0.0
        self.active = 0
        self.finished: asyncio.Future[None] | None = None

    def next(self) -> bytes | None:
        now = time.perf_counter()
        if now >= self.deadline:
            return None
        if self.index >= len(self.requests):
            if not self.cycle:
                self.exhausted = True
                return None
            self.index = 0
        request = self.requests[self.index]
        self.index += 1
        return request

    def record(self, status: str, started: float) -> None:
        now = time.perf_counter()
        self.statuses[status] += 1
        self.latencies.append(now - started)
        self.last = now

    def close_one(self) -> None:
        self.active -= 1
        if self.active == 0 and self.finished is not None and not self.finished.done():
            self.finished.set_result(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send a request, read the answer, send the next."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # bytes of the whole response, once its head is read
        self.status = ""
        self.sent_at = 0.0
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send_next(self) -> None:
        request = self.source.next()
        if request is None or self.transport is None:
            self.finish()
            return
        self.busy = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            self.status = head[9:12].decode()
            if b"\r\ntransfer-encoding:" in head:  # neither server sends chunked answers
                self.source.record("chunked answer (unsupported)", self.sent_at)
                self.busy = False
                self.finish()
                return
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self.need = end + 4 + length
        if len(self.buffer) < self.need:
            return
        del self.buffer[: self.need]
        self.need = -1
        self.busy = False
        self.source.record(self.status, self.sent_at)
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.source.record("connection lost", self.sent_at)
            self.busy = False
        self.finish()

    def finish(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.source.close_one()


async def python_load(
    label: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    duration: float,
    cycle: bool,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    source = _Source(requests, cycle)
    source.finished = loop.create_future()
    connections: list[_Connection] = []
    for _ in range(concurrency):
        _, conn = await loop.create_connection(lambda: _Connection(source), "127.0.0.1", port)
        connections.append(conn)
    source.active = len(connections)
    started = time.perf_counter()
    source.deadline = started + duration
    for conn in connections:
        conn.send_next()
    try:
        await asyncio.wait_for(asyncio.shield(source.finished), duration + REQUEST_TIMEOUT)
    except TimeoutError:
        for conn in connections:
            if conn.busy:
                source.statuses["timeout"] += 1
                conn.busy = False
            conn.finish()
    latencies = sorted(source.latencies)
    completed = sum(source.statuses.values())
    return LoadResult(
        label=label,
        generator="python",
        completed=completed,
        elapsed=max(source.last - started, 1e-9),
        statuses=source.statuses,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        exhausted=source.exhausted,
    )


# wrk: one request per line of the input file ("<bearer> <code>"), split between the
# threads; counts statuses itself and times the window it was busy (a thread stops
# when its lines run out, and wrk's own duration would then be wrong). The spare
# request a connection sends when the lines are out answers 404 on both servers.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  cycle = args[3] == "1"
  local target = args[4]
  reqs = {}
  local k = 0
  for line in io.lines(path) do
    if k % nthreads == thread_index then
      local bearer, code = line:match("^(%S+) (%S+)$")
      reqs[#reqs + 1] = wrk.format("POST", target, {
        ["Authorization"] = "Bearer " .. bearer,
        ["Content-Type"] = "application/json",
      }, '{"type":"manual_input","code":"' .. code .. '"}')
    end
    k = k + 1
  end
  spare = wrk.format("GET", "/__bench_no_more_requests")
  nxt, codes, first, last, exhausted, inflight, spares = 0, {}, 0, 0, 0, 0, 0
  verified, stopped = false, false
end

function request()
  if not verified then
    -- wrk calls request() once on the first thread to check it, and never sends it
    verified = true
    if thread_index == 0 then return spare end
  end
  if first == 0 then first = now() end
  if nxt >= #reqs then
    if not cycle then
      -- Out of lines: this connection sends one cheap spare request (its answer is
      -- not counted) and is then parked by delay(); the thread stops once the
      -- real requests still in flight are answered.
      exhausted = 1
      spares = spares + 1
      return spare
    end
    nxt = 0
  end
  nxt = nxt + 1
  inflight = inflight + 1
  return reqs[nxt]
end

function delay()
  if exhausted == 1 then return 3600000 end
  return 0
end

function response(status, headers, body)
  if spares > 0 and status == 404 then
    spares = spares - 1
  else
    inflight = inflight - 1
    codes[status] = (codes[status] or 0) + 1
    last = now()
  end
  if exhausted == 1 and inflight == 0 and not stopped then
    stopped = true
    wrk.thread:stop()
    io.write("BENCH_THREAD_DONE\n")
    io.flush()
  end
end

function done(summary, latency, requests)
  local first_all, last_all, out_of_lines = math.huge, 0, 0
  local totals = {}
  for _, t in ipairs(threads) do
    local f, l = t:get("first"), t:get("last")
    if f > 0 and f < first_all then first_all = f end
    if l > last_all then last_all = l end
    out_of_lines = out_of_lines + t:get("exhausted")
    for status, n in pairs(t:get("codes")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do parts[#parts + 1] = '"' .. status .. '":' .. n end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"codes":{%s},"elapsed":%.6f,"p50_us":%d,"p99_us":%d,"exhausted":%d,'
      .. '"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    table.concat(parts, ","), last_all - first_all, latency:percentile(50),
    latency:percentile(99), out_of_lines, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk_load(
    label: str,
    port: int,
    path: str,
    lines: list[tuple[str, str]],
    concurrency: int,
    duration: float,
    cycle: bool,
    workdir: Path,
) -> LoadResult:
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)
    data = workdir / f"{label}-requests.txt"
    data.write_text("".join(f"{bearer} {code}\n" for bearer, code in lines))
    threads = 1  # the other core runs the server
    seconds = max(1, math.ceil(duration))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{seconds}s",
        f"--timeout={int(REQUEST_TIMEOUT)}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
        "--",
        str(data),
        str(threads),
        "1" if cycle else "0",
        path,
    ]
    stdout: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            stopped = 0
            for line in proc.stdout:  # wrk runs its -d even when its threads stopped
                stdout.append(line)
                if line.startswith("BENCH_THREAD_DONE"):
                    stopped += 1
                    if stopped == threads:
                        proc.send_signal(signal.SIGINT)  # wrk then reports at once
            errors = proc.stderr.read()
            proc.wait(timeout=REQUEST_TIMEOUT)
        except BaseException:
            proc.kill()
            raise
    found = [ln for ln in stdout if ln.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{''.join(stdout)}\n{errors}")
    raw = json.loads(found[-1].removeprefix("BENCH_RESULT "))
    statuses: Counter[str] = Counter({str(k): int(v) for k, v in raw["codes"].items()})
    for kind in ("connect", "read", "write", "timeout"):
        if raw[kind]:
            statuses[f"socket {kind} error"] += int(raw[kind])
    return LoadResult(
        label=label,
        generator="wrk",
        completed=sum(statuses.values()),
        elapsed=max(float(raw["elapsed"]), 1e-9),
        statuses=statuses,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        exhausted=bool(raw["exhausted"]),
    )


@dataclass
class Generator:
    name: str  # "wrk" or "python"
    concurrency: int
    workdir: Path

    def run(
        self,
        label: str,
        server: Server,
        lines: list[tuple[str, str]],
        duration: float,
        *,
        cycle: bool,
        python: bool = False,
    ) -> LoadResult:
        """Drive ``server`` with one request per (bearer, code); also take the server's
        CPU time over the phase."""
        path = MFA_PATH if server.name == "mfa" else FLOOR_PATH
        cpu_before = cpu_seconds(server.proc.pid)
        if self.name == "wrk" and not python:
            args = (label, server.port, path, lines, self.concurrency, duration, cycle)
            result = wrk_load(*args, self.workdir)
        else:
            requests = [raw_request(path, server.port, b, c) for b, c in lines]
            result = asyncio.run(
                python_load(label, server.port, requests, self.concurrency, duration, cycle)
            )
        result.server_cpu = cpu_seconds(server.proc.pid) - cpu_before
        return result


# ---------------------------------------------------------------------- redis


class RoundTripSample:
    """Commands the mfa server sends to Redis, recorded with MONITOR."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.url = redis_url
        self.client = redis.Redis.from_url(redis_url)
        self.marker = f"{prefix}:monitor-end"
        self.prefix = prefix
        self.commands: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.error: BaseException | None = None

    def _listen(self) -> None:
        try:
            with self.client.monitor() as monitor:  # type: ignore[no-untyped-call]
                self.ready.set()
                for command in monitor.listen():
                    if self.marker in command["command"]:
                        return
                    self.commands.append(command)
        except BaseException as exc:  # raised again by __exit__
            self.error = exc
            self.ready.set()

    def __enter__(self) -> RoundTripSample:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("MONITOR did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # let the last commands reach the monitor stream
        with redis.Redis.from_url(self.url) as client:
            client.echo(self.marker)  # the listener stops on it
        self.thread.join(10)
        self.client.close()
        if self.error is not None:
            raise RuntimeError(f"MONITOR failed: {self.error!r}")

    def per_client(self) -> tuple[int, Counter[str]]:
        """(round trips, commands by name) of the connections that used the prefix.

        A connection opened during the sample starts with its handshake (HELLO,
        SELECT, a health-check PING...): the pool's, not the verify's; left out."""
        ours = {
            (c["client_address"], c["client_port"])
            for c in self.commands
            if c["client_type"] == "tcp" and self.prefix + ":" in c["command"]
        }
        trips = 0
        names: Counter[str] = Counter()
        in_multi: set[tuple[str, str]] = set()
        started: set[tuple[str, str]] = set()
        for c in self.commands:
            who = (c["client_address"], c["client_port"])
            if c["client_type"] != "tcp" or who not in ours:
                continue
            name = c["command"].split(" ", 1)[0].strip('"').upper()
            if who not in started:
                if name in HANDSHAKE:
                    continue
                started.add(who)
            names[name] += 1
            if name == "MULTI":
                in_multi.add(who)
                trips += 1
            elif who in in_multi:
                if name in ("EXEC", "DISCARD"):
                    in_multi.discard(who)
            else:
                trips += 1
        return trips, names


def command_stats(client: redis.Redis) -> dict[str, int]:
    info: dict[str, Any] = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


def delete_prefixes(redis_url: str, prefixes: list[str]) -> int:
    deleted = 0
    with redis.Redis.from_url(redis_url) as client:
        for prefix in prefixes:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += client.unlink(*batch)
                    batch = []
            if batch:
                deleted += client.unlink(*batch)
    return deleted


# ---------------------------------------------------------------------- profile


# What a verify does: (qualified function name in a py-spy stack, label).
STAGES: tuple[tuple[str, str], ...] = (
    ("ErrorBoundary.__call__", "the app, from ErrorBoundary down"),
    ("read_body", "  read + validate the body (pydantic)"),
    ("Flows.verify_otp", "  Flows.verify_otp"),
    ("TokenCodec.decode", "    decode the tx token (pyjwt, HS256)"),
    ("RedisEphemeralStore.get_transaction", "    get_transaction (HGETALL, parse)"),
    ("MFAService.tenant", "    tenant settings (cached 1 s)"),
    ("MFAService.unseal", "    unseal the TOTP seed (AES-GCM)"),
    ("matching_step", "    TOTP, steps -1..+1 (pyotp)"),
    ("MFAService.sign_result", "    sign the result (pyjwt, ES256)"),
    ("RedisEphemeralStore.record_attempt", "    record_attempt (EVALSHA)"),
    ("SqlDurableStore.get_tenant", "reads of the tenant from SQLite (cache refills)"),
)
PACKAGES: tuple[tuple[str, str], ...] = (
    ("/mfa/", "mfa"),
    ("/starlette/", "starlette"),
    ("/uvicorn/", "uvicorn"),
    ("/h11/", "h11 (HTTP parsing)"),
    ("/httptools/", "httptools (HTTP parsing)"),
    ("/redis/", "redis-py"),
    ("/jwt/", "pyjwt"),
    ("/cryptography/", "cryptography"),
    ("/pyotp/", "pyotp"),
    ("/pydantic", "pydantic"),
    ("/sqlalchemy/", "sqlalchemy + aiosqlite"),
    ("/aiosqlite/", "sqlalchemy + aiosqlite"),
    ("/anyio/", "anyio"),
    ("/asyncio/", "asyncio (socket send/recv syscalls included)"),
    ("/selectors.py", "asyncio (socket send/recv syscalls included)"),
)


def package_of(filename: str, function: str) -> str:
    for marker, name in PACKAGES:
        if marker in filename:
            return name
    if filename in ("~", ""):  # cProfile's C functions
        return "C functions (socket, json, hashing...)"
    return "stdlib, other"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frame(text: str) -> tuple[str, str]:
    """py-spy's ``function (file:line)`` as (file, function)."""
    function, _, where = text.partition(" (")
    return where.rsplit(":", 1)[0], function


def report_samples(raw: Path, cpu_per_verify_us: float, out: Callable[[str], None]) -> None:
    """Shares of py-spy's samples of the event-loop thread, by package and by stage.

    The event loop runs every request, so its samples are the server's CPU (the
    other threads are aiosqlite's, idle but sampled as running now and then).
    SQLAlchemy's greenlets show up as stacks of their own on that thread."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        texts = stack.split(";")
        if count.isdigit() and len(texts) > 1 and "MainThread" in texts[0]:
            stacks.append(([_frame(f) for f in texts[1:]], int(count)))
    total = sum(n for _, n in stacks) or 1
    packages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for frames, n in stacks:
        filename, function = frames[-1]
        packages[package_of(filename, function)] += n
        leaves[f"{function} ({'/'.join(Path(filename).parts[-2:])})"] += n
        names = {fn for _, fn in frames}
        for name, label in STAGES:
            if name in names:
                stages[label] += n
        if any(package_of(f, fn) == "sqlalchemy + aiosqlite" for f, fn in frames):
            stages["any SQLAlchemy or aiosqlite frame (tenant refills)"] += n

    def row(label: str, n: int) -> str:
        return f"    {label:<58} {n / total:6.1%} {n / total * cpu_per_verify_us:7.0f} us"

    out(
        f"  {total} samples of the event-loop thread; us = share x server CPU per verify "
        f"of the measured phase ({cpu_per_verify_us:.0f} us)"
    )
    out("  where the time is spent (innermost frame, by package):")
    for name, n in packages.most_common():
        out(row(name, n))
    out("  stages of a verify (inclusive):")
    for _, label in STAGES:
        out(row(label, stages[label]))
    label = "any SQLAlchemy or aiosqlite frame (tenant refills)"
    out(row(label, stages[label]))
    out("  hottest functions (innermost frame):")
    for name, n in leaves.most_common(15):
        out(row(name[:58], n))


def report_cprofile(path: Path, cpu_per_verify_us: float, out: Callable[[str], None]) -> None:
    """Own time by package and the hottest functions, from cProfile (idle wait left out)."""
    raw: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    own = {
        key: value[2]
        for key, value in raw.items()
        if "epoll" not in key[2] and "select" not in key[2]  # waiting, not working
    }
    total = sum(own.values()) or 1.0
    packages: Counter[str] = Counter()
    for (filename, _, function), seconds in own.items():
        packages[package_of(filename, function)] += seconds

    def row(label: str, seconds: float) -> str:
        return (
            f"    {label:<58} {seconds / total:6.1%} {seconds / total * cpu_per_verify_us:7.0f} us"
        )

    out(
        f"  cProfile (py-spy not on the PATH); us = share x server CPU per verify "
        f"({cpu_per_verify_us:.0f} us, itself inflated by cProfile)"
    )
    out("  own time by package:")
    for name, seconds in packages.most_common():
        out(row(name, seconds))
    out("  hottest functions (own time):")
    for (filename, _, function), seconds in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        where = "/".join(Path(filename).parts[-2:]) if filename != "~" else "C"
        out(row(f"{function} ({where})"[:58], seconds))


# ---------------------------------------------------------------------- main


def loadavg() -> str:
    with contextlib.suppress(OSError):
        one, five, _ = os.getloadavg()
        return f"{one:.2f} (1 min) {five:.2f} (5 min)"
    return "n/a"


def workdir_base() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def split(users: list[User], sizes: list[int]) -> Iterator[list[User]]:
    """Consecutive slices of the given sizes, then the rest."""
    at = 0
    for size in sizes:
        yield users[at : at + size]
        at += size
    yield users[at:]


def pick_generator(choice: str) -> str | None:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        return None
    return choice


def print_verdict(
    floor: LoadResult,
    mfa: LoadResult,
    sample: LoadResult,
    trips: int,
    names: Counter[str],
    redis_deltas: dict[str, int],
    out: Callable[[str], None],
) -> bool:
    out("")
    out(floor.line())
    out(mfa.line())
    ratio = mfa.rps / floor.rps if floor.rps else 0.0
    per_verify = trips / max(sample.ok, 1)
    out("")
    cpu_ratio = floor.cpu_per_request_us / mfa.cpu_per_request_us if mfa.server_cpu else 0.0
    out(
        f"ratio mfa / floor: {ratio:.1%}  (target >= {TARGET_RATIO:.0%}); "
        f"by server CPU per request: {cpu_ratio:.1%}"
    )
    by_name = ", ".join(f"{n} {c / max(sample.ok, 1):.2f}" for n, c in names.most_common())
    out(
        f"Redis round trips per verify (MONITOR, {sample.ok} verifies): {per_verify:.2f} "
        f"[{by_name}]  (target <= {MAX_ROUND_TRIPS:g})"
    )
    shown = [
        f"{name.upper()} {calls / max(mfa.ok, 1):.2f}"
        for name, calls in sorted(redis_deltas.items(), key=lambda kv: -kv[1])
        if calls and name in ("hgetall", "evalsha", "eval", "script|load", "multi")
    ]
    out(
        f"  cross-check, INFO commandstats calls per verify over the mfa phase (server-wide, "
        f"other clients included): {', '.join(shown) or 'none'}"
    )
    out(f"load average after: {loadavg()}")
    out("")
    valid = mfa.failures == 0 and floor.failures == 0 and sample.failures == 0 and mfa.ok > 0
    if not valid:
        out("RESULT: INVALID: non-204 answers above; no figure of this run means anything")
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    out(f"throughput  >= {TARGET_RATIO:.0%} of floor : {verdict}")
    out(
        f"round trips <= {MAX_ROUND_TRIPS:g}          : "
        f"{'PASS' if per_verify <= MAX_ROUND_TRIPS else 'FAIL'}"
    )
    return valid


def profile_phase(
    gen: Generator,
    mfa: Server,
    users: list[User],
    seconds: float,
    cpu_per_verify_us: float,
    out: Callable[[str], None],
) -> None:
    """One more mfa phase, sampled by py-spy when it is on the PATH, else cProfile."""
    out("")
    py_spy = shutil.which("py-spy")
    spy: subprocess.Popen[bytes] | None = None
    samples = gen.workdir / "mfa.py-spy.txt"
    if py_spy:
        out("profile of the mfa server (py-spy, separate phase):")
        # Not --nonblocking: on 3.11 its stacks of running coroutines come out torn.
        options = ["--rate", "400", "--threads", "--full-filenames", "--format", "raw"]
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(mfa.proc.pid), *options, "--output", str(samples)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0)  # attached
    else:
        out(
            "profile of the mfa server (cProfile, separate phase; pip install py-spy for a "
            "sampling profile with stages):"
        )
        os.kill(mfa.proc.pid, signal.SIGUSR1)
        time.sleep(0.2)
    try:
        result = gen.run("mfa", mfa, verify_requests(users, time.time()), seconds, cycle=False)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
            _, err = spy.communicate(timeout=30)
        else:
            os.kill(mfa.proc.pid, signal.SIGUSR2)
    out(f"  {result.line()}")
    if spy is not None:
        if not samples.exists():
            out(f"  py-spy wrote nothing: {err.decode(errors='replace').strip()[-500:]}")
            return
        report_samples(samples, cpu_per_verify_us, out)
        return
    assert mfa.profile_out is not None
    deadline = time.monotonic() + 20
    while not mfa.profile_out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    report_cprofile(mfa.profile_out, result.cpu_per_request_us, out)


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    out = functools.partial(print, flush=True)
    if args.users < 200:
        out("--users: at least 200 (warm-up, Redis sample and measurement take slices)")
        return 2
    generator = pick_generator(args.generator)
    if generator is None:
        out("wrk is not on the PATH: use --generator python (or auto)")
        return 2
    run_id = uuid.uuid4().hex[:10]
    prefix, floor_prefix = f"mfabench-{run_id}", f"mfabenchfloor-{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix="mfa-bench-", dir=workdir_base()))
    gen = Generator(generator, args.concurrency, workdir)
    servers: list[Server] = []
    logging.getLogger("mfa").setLevel(logging.ERROR)  # the dev-keys warning
    try:
        out(
            f"mfa verify-otp benchmark, run {run_id}: python {sys.version.split()[0]}, "
            f"{os.cpu_count()} cores, load average {loadavg()}"
        )
        out(
            f"servers: uvicorn {uvicorn.__version__}, 1 worker each, loop={LOOP}, http={HTTP}, "
            f"access log off; Redis {args.redis_url}, key prefix {prefix}"
        )
        out(
            f"generator: {generator}"
            + (" (1 thread)" if generator == "wrk" else " (asyncio, raw HTTP/1.1 keep-alive)")
            + f", {args.concurrency} connections, phases of at most {args.duration:g} s"
        )

        floor = Server.start("floor", workdir, args.redis_url, floor_prefix)
        servers.append(floor)
        service = mfa_service(workdir, args.redis_url, prefix)

        async def setup() -> list[User]:
            async with service:
                return await prepare_users(service, args.users, args.tx_per_user, out)

        users = asyncio.run(setup())
        with redis.Redis.from_url(args.redis_url) as client, client.pipeline() as pipe:
            for u in users:  # the floor's secrets; the TTL in case cleanup never runs
                pipe.set(f"{floor_prefix}:{u.user_id}", u.secret, ex=3600)
            pipe.execute()
        cprofile = args.profile and not shutil.which("py-spy")
        mfa = Server.start("mfa", workdir, args.redis_url, prefix, profile=cprofile)
        servers.append(mfa)
        floor.wait_ready()
        mfa.wait_ready()

        n = len(users)
        sizes = [min(200, n // 20), min(300, n // 10), n // 4 if args.profile else 0]
        warm_users, sample_users, profile_users, measure_users = split(users, sizes)

        # Warm-up: imports, connection pools, the Lua script cache, the tenant cache.
        gen.run("floor", floor, floor_requests(users, time.time()), 1.0, cycle=True)
        warm = gen.run("mfa", mfa, verify_requests(warm_users, time.time(), 1), 5, cycle=False)
        out(f"warm-up {warm.line()}")

        # Redis round trips per verify, on a sample recorded with MONITOR.
        with RoundTripSample(args.redis_url, prefix) as monitor:
            lines = verify_requests(sample_users, time.time(), 1)
            sample = gen.run("mfa", mfa, lines, 10.0, cycle=False, python=True)
        trips, names = monitor.per_client()

        # The measurement: mfa until its transactions run out (or --duration), then
        # the floor for as long; same generator, same connections.
        with redis.Redis.from_url(args.redis_url) as client:
            before = command_stats(client)
            lines = verify_requests(measure_users, time.time())
            mfa_result = gen.run("mfa", mfa, lines, args.duration, cycle=False)
            after = command_stats(client)
        deltas = {k: after[k] - before.get(k, 0) for k in after}
        lines = floor_requests(users, time.time())
        floor_seconds = max(1.0, mfa_result.elapsed)
        floor_result = gen.run("floor", floor, lines, floor_seconds, cycle=True)
        valid = print_verdict(floor_result, mfa_result, sample, trips, names, deltas, out)

        if args.profile:
            seconds = min(args.duration, 8.0)
            profile_phase(gen, mfa, profile_users, seconds, mfa_result.cpu_per_request_us, out)
        return 0 if valid else 1
    finally:
        # A second Ctrl-C (or SIGTERM) must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            removed = delete_prefixes(args.redis_url, [prefix, floor_prefix])
            out(f"cleanup: servers stopped, {removed} Redis keys deleted, {workdir} removed")
        except redis.RedisError as exc:
            out(f"cleanup: could not delete the keys {prefix}:* and {floor_prefix}:*: {exc}")
        out(f"total {time.monotonic() - began:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000, help="enrolled users (default 2000)")
    parser.add_argument(
        "--tx-per-user",
        type=int,
        default=2,
        choices=(1, 2),
        help="login transactions per user (default 2)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="at most this many seconds of mfa load, then as long for the floor (default 10)",
    )
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more phase, profiled with py-spy (else cProfile): where mfa's CPU goes",
    )
    parser.add_argument("--redis-url", default=REDIS_URL)
    # Internal: the server processes.
    parser.add_argument("--serve", choices=("mfa", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    # SIGTERM takes the Ctrl-C path (asyncio.run cancels its task cleanly on SIGINT),
    # and SIGINT works even when this was started in the background with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
