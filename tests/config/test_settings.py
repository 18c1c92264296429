"""Settings read from the environment: production refuses weak secrets and passes the deploy check."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_rate
from tests.processes import PROJECT_ROOT, python_run

STRIPPED = {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
STRIPPED |= {"CACHE_URL", "REDIS_URL", "NUM_PROXIES"}
STRIPPED |= {"LOG_FORMAT", "LOG_LEVEL", "USE_X_FORWARDED_PROTO", "SECURE_SSL_REDIRECT"}
STRIPPED |= {"CSRF_TRUSTED_ORIGINS"}
SETUP = "import django; django.setup()"


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without the settings under test, plus the given ones."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in STRIPPED and not key.startswith("THROTTLE_")
    }
    env.update(overrides)
    return env


def strong_secret() -> str:
    key = secrets.token_urlsafe(48)
    assert len(key) == 64
    return key


# --- Production refuses to start with a weak secret -----------------------------------------


@pytest.mark.parametrize(
    "secret",
    [None, "", "short", "django-insecure-" + "k" * 60, "a" * 64],
    ids=["unset", "empty", "short", "django-insecure", "too-few-distinct-characters"],
)
def test_production_refuses_to_start_without_a_real_secret_key(secret: str | None) -> None:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.production")
    if secret is not None:
        env["SECRET_KEY"] = secret

    result = python_run(["-c", SETUP], env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_weak_secret_even_with_debug_on() -> None:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production", DEBUG="1", SECRET_KEY="short"
    )

    result = python_run(["-c", SETUP], env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_a_strong_secret_key() -> None:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.production", SECRET_KEY=strong_secret())

    result = python_run(
        ["-c", f"{SETUP}; from django.conf import settings; print(settings.DEBUG)"], env
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"USE_X_FORWARDED_PROTO": "1", "CSRF_TRUSTED_ORIGINS": "https://admin.example.com"},
        {"LOG_FORMAT": "text", "SECURE_SSL_REDIRECT": "1"},
        {"NUM_PROXIES": "0"},
    ],
    ids=["defaults", "behind-a-tls-proxy", "text-logs", "no-proxy"],
)
def test_production_passes_the_deploy_check_with_no_warnings(extra: dict[str, str]) -> None:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=strong_secret(),
        ALLOWED_HOSTS="api.example.com",
        **{"NUM_PROXIES": "1", **extra},
    )

    result = python_run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("num_proxies", [None, "", "  "])
def test_the_deploy_check_fails_while_num_proxies_is_left_unset(num_proxies) -> None:
    # Trusting X-Forwarded-For by default lets a client reaching gunicorn
    # directly choose the address its login attempts count against; a blank
    # value falls back to that default too, so it is not a decision either.
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=strong_secret(),
        ALLOWED_HOSTS="api.example.com",
    )
    if num_proxies is not None:
        env["NUM_PROXIES"] = num_proxies

    result = python_run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    assert "core.W001" in result.stderr
    assert "NUM_PROXIES is not set" in result.stderr


# --- Production answers: security headers, HTTPS, a refused Host -----------------------------

REQUESTS = """
import json, django
django.setup()
from django.test import Client
client = Client()
answers = {}
for name, path, extra in [
    ("bad_host_api", "/v1/organizations/acme/bulk-tasks", {"HTTP_HOST": "evil.example"}),
    ("bad_host_probe", "/healthz", {"HTTP_HOST": "evil.example"}),
    ("http_api", "/v1/no-such-route", {"HTTP_HOST": "api.example.com"}),
    ("http_probe", "/healthz", {"HTTP_HOST": "api.example.com"}),
    ("https_api", "/v1/no-such-route", {"HTTP_HOST": "api.example.com", "secure": True}),
    ("forwarded_https_api", "/v1/no-such-route",
     {"HTTP_HOST": "api.example.com", "HTTP_X_FORWARDED_PROTO": "https"}),
]:
    response = client.get(path, **extra)
    answers[name] = {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": response.content.decode(),
    }
print(json.dumps(answers))
"""


def production_answers(**overrides: str) -> dict[str, dict]:
    """What production settings answer to a few requests, made in a fresh process."""
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=strong_secret(),
        ALLOWED_HOSTS="api.example.com",
        **overrides,
    )
    result = python_run(["-c", REQUESTS], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_answers_a_refused_host_with_the_json_envelope_not_html() -> None:
    answers = production_answers()

    for name in ("bad_host_api", "bad_host_probe"):
        answer = answers[name]
        assert answer["status"] == 400
        assert answer["headers"]["Content-Type"] == "application/json"
        assert json.loads(answer["body"]) == {
            "status": False,
            "error": {"code": 1003, "message": "Invalid Host header"},
        }
        assert answer["headers"]["X-Request-ID"]


def test_production_sends_security_headers_over_https() -> None:
    headers = production_answers()["https_api"]["headers"]

    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_production_redirects_plain_http_except_for_the_probes() -> None:
    answers = production_answers()

    assert answers["http_api"]["status"] == 301
    assert answers["http_api"]["headers"]["Location"] == "https://api.example.com/v1/no-such-route"
    assert answers["http_probe"]["status"] == 200


def test_x_forwarded_proto_is_trusted_only_when_the_flag_says_so() -> None:
    untrusted = production_answers()["forwarded_https_api"]
    trusted = production_answers(USE_X_FORWARDED_PROTO="1")["forwarded_https_api"]

    assert untrusted["status"] == 301
    assert trusted["status"] == 404
    assert "Strict-Transport-Security" in trusted["headers"]


# --- Logs -------------------------------------------------------------------------------------

LOG_ONE_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('bulktasks.example').info('hello %s', 'world')"
)


def test_production_logs_json_lines_by_default() -> None:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.production", SECRET_KEY=strong_secret())

    result = python_run(["-c", LOG_ONE_LINE], env)

    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "bulktasks.example",
        "hello world",
    )
    assert line["request_id"] is None


def test_local_settings_log_plain_text_by_default_and_json_on_request() -> None:
    text = python_run(
        ["-c", LOG_ONE_LINE], clean_env(DJANGO_SETTINGS_MODULE="config.settings.local")
    )
    json_lines = python_run(
        ["-c", LOG_ONE_LINE],
        clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOG_FORMAT="json"),
    )

    assert text.stderr.strip().endswith("INFO bulktasks.example [-] hello world")
    assert json.loads(json_lines.stderr.strip().splitlines()[-1])["message"] == "hello world"


def test_an_unknown_log_format_stops_the_start() -> None:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.local", LOG_FORMAT="xml")

    result = python_run(["-c", SETUP], env)

    assert result.returncode != 0
    assert "LOG_FORMAT" in result.stderr


# --- The environment readers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("on", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_clear_yes_and_no(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("FEATURE_FLAG", raw)

    assert env_bool("FEATURE_FLAG", default=not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "tru"])
def test_env_bool_rejects_junk(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FEATURE_FLAG", raw)

    with pytest.raises(ImproperlyConfigured, match="FEATURE_FLAG"):
        env_bool("FEATURE_FLAG")


def test_env_bool_uses_the_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEATURE_FLAG", raising=False)

    assert env_bool("FEATURE_FLAG", default=True) is True
    assert env_bool("FEATURE_FLAG", default=False) is False


def test_env_int_reads_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "12")

    assert env_int("WORKERS", 1) == 12


@pytest.mark.parametrize("raw", ["ten", "1.5", "12abc", "0x10"])
def test_env_int_rejects_non_integers(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("WORKERS", raw)

    with pytest.raises(ImproperlyConfigured, match="WORKERS"):
        env_int("WORKERS", 1)


def test_env_int_uses_the_default_when_unset_or_blank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKERS", raising=False)
    unset = env_int("WORKERS", 3)
    monkeypatch.setenv("WORKERS", "  ")
    blank = env_int("WORKERS", 3)

    assert (unset, blank) == (3, 3)


# --- The database -----------------------------------------------------------------------------


def test_database_defaults_to_a_sqlite_file_under_var() -> None:
    script = (
        "from config.settings import base; "
        "print(base.DATABASES['default']['ENGINE']); "
        "print(base.DATABASES['default']['NAME'])"
    )

    result = python_run(["-c", script], clean_env())

    assert result.returncode == 0, result.stderr
    engine, name = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == PROJECT_ROOT / "var" / "db.sqlite3"


# --- Cache and rate limits --------------------------------------------------------------------

CACHE_SCRIPT = (
    "from config.settings import base; "
    "print(base.CACHES['default']['BACKEND']); "
    "print(base.CACHES['default'].get('LOCATION', '-'))"
)


def test_the_cache_is_local_memory_by_default() -> None:
    result = python_run(["-c", CACHE_SCRIPT], clean_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.cache.backends.locmem.LocMemCache", "-"]


@pytest.mark.parametrize("variable", ["REDIS_URL", "CACHE_URL"])
def test_a_redis_url_selects_djangos_redis_cache(variable: str) -> None:
    env = clean_env(**{variable: "redis://cache.internal:6379/2"})

    result = python_run(["-c", CACHE_SCRIPT], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://cache.internal:6379/2",
    ]


def test_cache_url_wins_over_redis_url() -> None:
    env = clean_env(CACHE_URL="redis://cache:6379/1", REDIS_URL="redis://other:6379/0")

    result = python_run(["-c", CACHE_SCRIPT], env)

    assert result.stdout.split()[1] == "redis://cache:6379/1"


def test_rates_come_from_the_environment_and_an_empty_one_is_off() -> None:
    script = (
        "from config.settings import base; "
        "rates = base.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']; "
        "print(rates['reads.user'], rates['login_failures.email'], rates['uploads.user'], "
        "rates['login_failures.email_ip'])"
    )
    env = clean_env(THROTTLE_READS_USER="5/s", THROTTLE_LOGIN_FAILURES_EMAIL="")

    result = python_run(["-c", script], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5/s", "None", "100/hour", "10/15min"]


def test_a_malformed_rate_stops_the_service_from_starting() -> None:
    env = clean_env(THROTTLE_UPLOADS_USER="lots")

    result = python_run(["-c", SETUP], env | {"DJANGO_SETTINGS_MODULE": "config.settings.local"})

    assert result.returncode != 0
    assert "THROTTLE_UPLOADS_USER" in result.stderr


def test_production_trusts_one_proxy_and_development_none() -> None:
    script = (
        f"{SETUP}; from django.conf import settings; print(settings.REST_FRAMEWORK['NUM_PROXIES'])"
    )
    production = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production", SECRET_KEY=strong_secret()
    )
    local = clean_env(DJANGO_SETTINGS_MODULE="config.settings.local")

    assert python_run(["-c", script], production).stdout.strip() == "1"
    assert python_run(["-c", script], local).stdout.strip() == "0"


def test_env_rate_reads_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_RATE", " 10/hour ")
    configured = env_rate("SOME_RATE", "1/min")
    monkeypatch.delenv("SOME_RATE")
    default = env_rate("SOME_RATE", "1/min")

    assert (configured, default) == ("10/hour", "1/min")


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("postgres://app@db.internal:5432/app", {}, "5"),
        ("postgres://app@db.internal:5432/app", {"DATABASE_CONNECT_TIMEOUT": "2"}, "2"),
        ("postgres://app@db.internal:5432/app?connect_timeout=9", {}, "9"),
    ],
    ids=["default", "from-the-environment", "from-the-url"],
)
def test_postgresql_connections_give_up_after_a_few_seconds(
    url: str, environ: dict[str, str], expected: str
) -> None:
    script = "from config.settings import base; print(base.DATABASES['default']['OPTIONS']['connect_timeout'])"

    result = python_run(["-c", script], clean_env(DATABASE_URL=url, **environ))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, "True 5"), ({"DB_SERVER_SIDE_BINDING": "0"}, "False None")],
    ids=["prepared-by-default", "off-behind-a-pooler"],
)
def test_postgresql_statements_are_prepared_unless_server_side_binding_is_off(
    environ: dict[str, str], expected: str
) -> None:
    # Django leaves psycopg's prepare_threshold at None (never prepare) unless told.
    script = (
        "from config.settings import base; options = base.DATABASES['default']['OPTIONS']; "
        "print(options['server_side_binding'], options.get('prepare_threshold'))"
    )

    result = python_run(
        ["-c", script], clean_env(DATABASE_URL="postgres://app@db:5432/app", **environ)
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
