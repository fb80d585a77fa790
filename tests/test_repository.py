"""What a plain clone must carry and must not pick up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_contract_documents_live_in_the_repository() -> None:
    # The suite reads them from here, never from beside the clone.
    for name in ("API.md", "error-codes.md", "guardian-wire.md"):
        assert (ROOT / "docs" / "contract" / name).stat().st_size > 1000, name


def test_no_test_reads_outside_the_repository() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if p.name != "test_repository.py"
        and ('"shared"' in p.read_text() or "../shared" in p.read_text())
    ]
    assert offenders == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize(
    "path", ["mfa.db", "mfa.db-wal", "mfa.db-shm", "mfa-dev-keys.json", "x/app.sqlite3-wal"]
)
def test_runtime_files_are_ignored(path: str) -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True
    )
    assert done.returncode == 0, f"{path} is not in .gitignore"
