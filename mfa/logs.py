"""Structured logs: one JSON object per line, each with the request's id.

``MFA_LOG_FORMAT=json`` makes ``mfa serve`` log this way, uvicorn's own lines
(access log included) as well as mfa's. A host that mounts the app keeps its own
logging; it may use :class:`JsonFormatter` too, which reads the request id from
:data:`REQUEST_ID` — set for the whole of each request by
:class:`mfa.http.observe.Observe`, the app's outermost middleware, so every line
logged while a request runs carries it (``null`` outside requests).

A line: ``{"time", "level", "logger", "message", "request_id"}`` plus
``"exception"`` (the formatted trace) when there is one. Messages are the same
text as in the plain format: they never hold a secret, code or phone number.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("mfa_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """``log_config`` for uvicorn: its loggers and mfa's, as JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = {
        name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mfa")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "mfa.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": loggers,
    }
