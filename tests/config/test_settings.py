"""Settings read from the environment: production refuses weak secrets and passes the deploy check."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
STRIPPED = {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
SETUP = "import django; django.setup()"


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without the settings under test, plus the given ones."""
    env = {key: value for key, value in os.environ.items() if key not in STRIPPED}
    env.update(overrides)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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

    result = run(["-c", SETUP], env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_a_weak_secret_even_with_debug_on() -> None:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production", DEBUG="1", SECRET_KEY="short"
    )

    result = run(["-c", SETUP], env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_starts_with_a_strong_secret_key() -> None:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.production", SECRET_KEY=strong_secret())

    result = run(["-c", f"{SETUP}; from django.conf import settings; print(settings.DEBUG)"], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_passes_the_deploy_check_with_no_warnings() -> None:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=strong_secret(),
        ALLOWED_HOSTS="api.example.com",
    )

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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

    result = run(["-c", script], clean_env())

    assert result.returncode == 0, result.stderr
    engine, name = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == PROJECT_ROOT / "var" / "db.sqlite3"


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

    result = run(["-c", script], clean_env(DATABASE_URL=url, **environ))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
