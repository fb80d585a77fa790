"""What importing mfa costs: no server module for a client, no cycle for any module.

Every check runs in a fresh interpreter, since this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mfa

ROOT = Path(__file__).resolve().parents[2]

# Top-level packages a host that only wants the client must not load.
SERVER_PACKAGES = {
    "starlette",
    "redis",
    "sqlalchemy",
    "asyncpg",
    "alembic",
    "twilio",
    "uvicorn",
    "aiosqlite",
}

# The documented public surface of ``mfa`` (README, API docs): a change here is a
# change of the public API and must be deliberate.
PUBLIC = {
    "CATALOGUE",
    "ERROR_CLASSES",
    "ErrorSpec",
    "InProcessClient",
    "MFAError",
    "MFAService",
    "Settings",
    "SettingsError",
    "VerifiedResult",
    "__version__",
    "create_app",
}


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _loaded_after(statement: str) -> tuple[set[str], float]:
    out = _fresh(
        "import json, sys, time\n"
        "t = time.perf_counter()\n"
        f"{statement}\n"
        "t = time.perf_counter() - t\n"
        "print(json.dumps([sorted(sys.modules), t]))"
    )
    names, seconds = json.loads(out)
    return {n.partition(".")[0] for n in names}, seconds


@pytest.mark.parametrize(
    "statement",
    [
        "import mfa.client",
        "import mfa.errors",
        "import mfa",
        "import mfa.storage.base",
        "import mfa.storage.protocols",
    ],
)
def test_light_imports_load_no_server_module(statement: str) -> None:
    top_level, seconds = _loaded_after(statement)
    # Reported, not asserted: wall time on a shared machine flakes.
    print(f"{statement}: {seconds * 1000:.0f} ms")
    assert top_level & SERVER_PACKAGES == set()


def test_client_loads_neither_otp_nor_qr_libraries() -> None:
    top_level, _ = _loaded_after("import mfa.client")
    assert {"pyotp", "segno", "pydantic", "argon2"} & top_level == set()


def test_the_server_is_loaded_by_the_names_that_need_it() -> None:
    # The guard above must be able to fail: the same check sees the server here.
    top_level, _ = _loaded_after("import mfa; mfa.create_app")
    assert "starlette" in top_level
    top_level, _ = _loaded_after("from mfa.storage import SqlDurableStore")
    assert "sqlalchemy" in top_level


def test_every_module_imports_on_its_own() -> None:
    """Each module of mfa/ and transports/ imported first, alone: an import cycle
    that only works in one order fails here. Our modules are dropped from
    sys.modules between imports; third-party ones stay, as cycles are not theirs."""
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("mfa", "transports")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )
    assert "mfa.client._sync" in modules and "transports.outbox" in modules
    out = _fresh(
        "import importlib, json, sys, traceback\n"
        "failed = {}\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('mfa', 'transports')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed[name] = traceback.format_exc()\n"
        "print(json.dumps(failed))"
    )
    assert json.loads(out) == {}


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert set(mfa.__all__) == PUBLIC
    assert len(mfa.__all__) == len(PUBLIC)
    for name in mfa.__all__:
        assert getattr(mfa, name) is not None, name
    assert set(mfa.__all__) <= set(dir(mfa))
    with pytest.raises(AttributeError):
        _ = mfa.no_such_name  # type: ignore[attr-defined]


def test_public_names_resolve_to_their_homes() -> None:
    from mfa import client
    from mfa.app import create_app
    from mfa.results import VerifiedResult
    from mfa.service import MFAService

    assert (mfa.create_app, mfa.MFAService, mfa.VerifiedResult) == (
        create_app,
        MFAService,
        VerifiedResult,
    )
    assert client.VerifiedResult is VerifiedResult


def test_only_the_composition_roots_import_the_service() -> None:
    """Parts receive a Context (mfa.context); the service is built by the app
    factory and the CLI. A module-level import of mfa.service anywhere else would
    bring back the import circle the context removed (type hints may name it under
    TYPE_CHECKING)."""
    import ast

    roots = {"mfa/app.py", "mfa/service.py"}
    offenders = []
    for path in sorted(Path("mfa").rglob("*.py")):
        rel = path.as_posix()
        if rel in roots:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: imports inside functions are lazy
            if isinstance(node, ast.ImportFrom) and node.module == "mfa.service":
                offenders.append(rel)
    assert offenders == []
