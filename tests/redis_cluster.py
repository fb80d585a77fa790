"""A real three-master Redis Cluster on loopback, started by the suite.

Each node is a ``redis-server --cluster-enabled yes`` of our own on a free port
whose cluster bus port (+10000) is free too, in a temporary folder; the
cluster is formed with ``redis-cli --cluster create``. Nodes keep nothing on
disk and are stopped when the session ends. ``cluster-require-full-coverage
no`` lets the slots of live nodes keep serving while one node is down, which is
what a tenant on another shard should see.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NODES = 3


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports p where p and p + 10000 (the cluster bus) are both free."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + 10000 < 65536 and _free(port + 10000) and port not in found:
            found.append(port)
    return found


@dataclass
class Cluster:
    ports: list[int]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    folder: Path = Path()

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start_node(self, port: int) -> None:
        node_dir = self.folder / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(node_dir)]
        self.procs[port] = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(port)

    def stop_node(self, port: int) -> None:
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for port in list(self.procs):
            self.stop_node(port)

    def slot_owner(self, key: str) -> int:
        """The port of the master that owns ``key``'s slot, as the cluster says."""
        live = next(iter(self.procs))
        slot = int(_cli(live, "cluster", "keyslot", key).strip())
        # CLUSTER SHARDS would be tidier; CLUSTER SLOTS is in every Redis 7:
        # start, end, then (ip, port, id) of the master and its replicas.
        lines = [line.strip() for line in _cli(live, "cluster", "slots").splitlines()]
        for i in range(len(lines) - 3):
            start, end = lines[i], lines[i + 1]
            if start.isdigit() and end.isdigit() and int(start) <= slot <= int(end):
                return int(lines[i + 3])
        raise AssertionError(f"no owner for slot {slot}")


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on {port} did not start")


def _cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30
    )
    return out.stdout


def start_cluster(folder: Path) -> Cluster:
    """Three masters in ``folder``, formed into a cluster; the caller stops it."""
    cluster = Cluster(_ports(NODES), folder=folder)
    try:
        for port in cluster.ports:
            cluster.start_node(port)
        nodes = [f"127.0.0.1:{p}" for p in cluster.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while any("cluster_state:ok" not in _cli(p, "cluster", "info") for p in cluster.ports):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not form")
            time.sleep(0.1)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli are not installed")
    with tempfile.TemporaryDirectory(prefix="mfa-cluster-") as folder:
        cluster = start_cluster(Path(folder))
        try:
            yield cluster
        finally:
            cluster.stop()
