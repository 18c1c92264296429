"""Log lines: one JSON object each, stamped with the request id and the Celery task id."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from core.logging import (
    JsonFormatter,
    LogContextFilter,
    logging_config,
    request_id_clean,
    request_id_new,
    request_id_var,
    task_id_var,
)
from tests.processes import python_run


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    """A record as logger.info(message, *args, extra=extra) would make it."""
    made = logging.getLogger("tests.logging").makeRecord(
        "tests.logging", logging.INFO, __file__, 1, message, args or ("world",), None, extra=extra
    )
    LogContextFilter().filter(made)
    return made


def formatted(made: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter().format(made)
    assert "\n" not in line
    return json.loads(line)


def test_a_line_has_the_timestamp_level_logger_message_and_request_id():
    token = request_id_var.set("req-1")
    try:
        entry = formatted(record())
    finally:
        request_id_var.reset(token)

    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.logging"
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-1"
    stamp = datetime.fromisoformat(str(entry["timestamp"]))
    assert str(entry["timestamp"]).endswith("Z")
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert "task_id" not in entry


def test_outside_a_request_the_request_id_is_null():
    entry = formatted(record())

    assert entry["request_id"] is None


def test_extra_fields_become_keys_and_unserializable_ones_become_text():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    entry = formatted(record(bulk_task_id="65a0", inserted=3, at=moment))

    assert (entry["bulk_task_id"], entry["inserted"]) == ("65a0", 3)
    assert entry["at"] == str(moment)
    assert "args" not in entry
    assert "msg" not in entry


def test_the_celery_task_id_is_added_inside_a_task():
    token = task_id_var.set("celery-task-1")
    try:
        entry = formatted(record())
    finally:
        task_id_var.reset(token)

    assert entry["task_id"] == "celery-task-1"


def test_a_traceback_and_a_multi_line_message_stay_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        made = logging.getLogger("tests.logging").makeRecord(
            "tests.logging", logging.ERROR, __file__, 1, "two\nlines", (), sys.exc_info()
        )

    entry = formatted(made)

    assert entry["message"] == "two\nlines"
    assert "ValueError: boom" in str(entry["exception"])


@pytest.mark.parametrize(
    "value",
    ["abc", "0f4ea3f47d4aeaa5aea0381033625989", "6b0b-4d2a_x.y:z", "a" * 128],
)
def test_a_plain_short_request_id_is_kept(value: str):
    assert request_id_clean(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "a" * 129, "has space", "new\nline", 'quote"', "ünïcode", "semi;colon"],
)
def test_a_long_or_odd_request_id_is_refused(value: str | None):
    assert request_id_clean(value) is None


def test_new_request_ids_are_32_hex_characters_and_unique():
    ids = {request_id_new() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)


def test_an_unknown_log_format_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


# --- A 4xx is logged once ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v1/no-such-route", 404),
        ("get", "/v1/organizations/acme/bulk-tasks", 401),
        ("post", "/v1/auth/token", 415),
    ],
)
def test_a_4xx_is_one_log_record_the_access_line(client, caplog, method, path, status):
    with caplog.at_level(logging.INFO):
        response = getattr(client, method)(path)

    assert response.status_code == status
    assert [(r.name, r.levelname) for r in caplog.records] == [("core.access", "INFO")]


@pytest.mark.django_db
@pytest.mark.urls("tests.core.failing_urls")
def test_a_5xx_keeps_its_traceback_record(caplog):
    with caplog.at_level(logging.INFO):
        Client(raise_request_exception=False).get("/v1/bug")

    names = [record.name for record in caplog.records]
    assert names.count("django.request") == 1
    assert caplog.records[names.index("django.request")].exc_info is not None


def test_with_debug_on_a_4xx_is_one_line_on_stderr_not_a_plain_copy_too():
    # The local settings (make run): DEBUG on, where Django's own console
    # handler used to print each "django" record a second time, unformatted.
    code = (
        "import django; django.setup(); from django.test import Client; "
        "Client().get('/v1/no-such-route', HTTP_HOST='localhost')"
    )
    env = {key: value for key, value in os.environ.items() if key != "LOG_FORMAT"}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "1"}
    result = python_run(["-c", code], env)

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    [line] = [line for line in lines if "no-such-route" in line]
    assert " INFO core.access " in line
    assert "GET /v1/no-such-route 404" in line


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/no-such-route", "/healthz", "/admin/login/"])
def test_a_refused_host_is_a_warning_without_a_traceback(caplog, path):
    with caplog.at_level(logging.INFO):
        response = Client().get(path, HTTP_HOST="evil.example")

    assert response.status_code == 400
    [refusal] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert refusal.levelname == "WARNING"
    assert refusal.exc_info is None
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
