"""Log records that carry the request id, and a formatter writing one JSON object per line.

The formatter is written here rather than taken from python-json-logger: it is
thirty lines, it names the fields exactly as our log pipeline expects them, and
it keeps a dependency out of every production image.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# Set for the length of one HTTP request, or of one Celery task.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)

# An incoming X-Request-ID is kept only if it is short and plain, so that a
# client cannot forge log lines or stuff kilobytes into every record.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.makeLogRecord({})), "message", "asctime", "taskName", "request_id", "task_id"}
)


def request_id_new() -> str:
    """A fresh request id: 32 random hex characters (as cheap as ids get)."""
    return os.urandom(16).hex()


def request_id_clean(value: str | None) -> str | None:
    """The client's request id if it is sane (1-128 of ``A-Z a-z 0-9 . _ : -``), else None."""
    if value and REQUEST_ID_RE.fullmatch(value):
        return value
    return None


class LogContextFilter(logging.Filter):
    """Stamp each record with the current request id and Celery task id, when there are."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        task_id = task_id_var.get()
        if task_id is not None:
            record.task_id = task_id
        return True


class ClientFaultFilter(logging.Filter):
    """Log a request refused for the client's fault at WARNING, without a traceback.

    Django logs a refused Host header (``django.security.DisallowedHost``) at
    ERROR with the traceback of its own check, once per request: any scanner
    on the internet would fill the error logs and page whoever watches them.
    The server did nothing wrong, and the traceback says nothing new.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        task_id = getattr(record, "task_id", None)
        if task_id is not None:
            entry["task_id"] = task_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot carry (a datetime, a model) is
        # logged as text rather than losing the whole line.
        return json.dumps(entry, default=str, separators=(",", ":"))


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: every record to stderr, as JSON lines or as plain text."""
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "log_context": {"()": "core.logging.LogContextFilter"},
            "client_fault": {"()": "core.logging.ClientFaultFilter"},
        },
        "formatters": {
            "json": {"()": "core.logging.JsonFormatter"},
            "text": {
                "()": "logging.Formatter",
                "fmt": TEXT_FORMAT,
                "defaults": {"request_id": "-"},
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["log_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Django's default handlers on "django" print a plain copy of each
            # record (with DEBUG on) beside the root handler's: listing the logger
            # here removes them, and its records reach the root handler alone.
            "django": {"handlers": [], "propagate": True},
            # core.access already logs every answer with its status, so a 4xx
            # ("Not Found: ...") is not logged a second time; 5xx keep their
            # traceback here.
            "django.request": {"level": "ERROR"},
            # runserver's own access line ("GET / HTTP/1.1" 200) repeats core.access.
            "django.server": {"level": "ERROR"},
            # A Host header the service does not serve: a warning, one line.
            "django.security.DisallowedHost": {"filters": ["client_fault"]},
        },
    }
