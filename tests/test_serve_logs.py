"""``mfa serve`` with MFA_LOG_FORMAT=json: every line on stderr from the server is
one JSON object, and a request's lines carry its id (uvicorn's access line too)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_serve import clean_env, free_port


@pytest.mark.slow
def test_serve_logs_json_lines_with_the_request_id(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfa.cli", "serve", "--port", str(port), "--access-log"],
        cwd=tmp_path,
        env=clean_env(MFA_LOG_FORMAT="json", MFA_METRICS_TOKEN="scrape-me"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "mfa serve did not come up"
                time.sleep(0.1)
        r = httpx.get(f"{base}/api/nowhere", headers={"X-Request-Id": "trace-me-7"}, timeout=5)
        assert r.headers["x-request-id"] == "trace-me-7"
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert 'error_code="not_found"' in scraped.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    # mfa serve's own start-up notes come first, as plain text; then the server's lines.
    lines = [line for line in err.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    (traced,) = [r for r in access if "/api/nowhere" in r["message"]]
    assert traced["request_id"] == "trace-me-7"
    assert any(r["logger"] == "uvicorn.error" and r["request_id"] is None for r in records)
