"""Each way the service is started loads the settings meant for it, with nothing set.

gunicorn, an ASGI server and a Celery worker run on servers: without
DJANGO_SETTINGS_MODULE they must come up with the production settings, which
refuse to start without a real SECRET_KEY, never with the local ones (debug on,
a signing key that is in the repository). Each case runs in a fresh interpreter
without DJANGO_SETTINGS_MODULE, as an operator's shell would start it.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from tests.processes import PROJECT_ROOT, python_run

SHOW_SETTINGS = (
    "from django.conf import settings; "
    "print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SIMPLE_JWT['SIGNING_KEY'] "
    "== settings.SECRET_KEY)"
)
# What `gunicorn config.wsgi`, `uvicorn config.asgi:application` and
# `celery -A config worker` import first (celery finds ``config.celery_app``,
# then configures it from the Django settings).
ENTRY_POINTS = {
    "wsgi": f"import config.wsgi; {SHOW_SETTINGS}",
    "asgi": f"import config.asgi; {SHOW_SETTINGS}",
    "celery": f"import config; config.celery_app.loader.import_default_modules(); {SHOW_SETTINGS}",
}
# Variables that pick the settings or feed the secret checks: none of them leaks in.
UNSET = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "JWT_SIGNING_KEY", "DEBUG", "ALLOWED_HOSTS"}


def start(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a clean interpreter: DJANGO_SETTINGS_MODULE unset, ``env`` added."""
    environment = {key: value for key, value in os.environ.items() if key not in UNSET}
    environment.update(env)
    return python_run(["-c", code], environment)


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_a_server_entry_point_refuses_to_start_without_a_secret_key(entry_point: str) -> None:
    result = start(ENTRY_POINTS[entry_point])

    assert result.returncode != 0
    assert "config/settings/production.py" in result.stderr
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_a_server_entry_point_loads_the_production_settings_by_default(entry_point: str) -> None:
    result = start(ENTRY_POINTS[entry_point], SECRET_KEY=secrets.token_urlsafe(64))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["config.settings.production", "False", "True"]


def test_celery_worker_command_loads_the_production_settings_by_default() -> None:
    # `celery report` loads the app exactly as `celery -A config worker` does,
    # then prints the settings it got, without starting a worker.
    code = "from celery.__main__ import main; main()"
    command = f"import sys; sys.argv = ['celery', '-A', 'config', 'report']; {code}"

    refused = start(command)
    started = start(command, SECRET_KEY=secrets.token_urlsafe(64))

    assert refused.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in refused.stderr
    assert started.returncode == 0, started.stderr
    assert "SETTINGS_MODULE: 'config.settings.production'" in started.stdout
    assert "\nDEBUG: False\n" in started.stdout


def test_production_refuses_a_weak_jwt_signing_key() -> None:
    result = start(
        f"import config.wsgi; {SHOW_SETTINGS}",
        SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY="change-me",
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: JWT_SIGNING_KEY" in result.stderr


def test_manage_py_loads_the_local_settings_by_default() -> None:
    # manage.py is the developer's tool; the production release step sets
    # DJANGO_SETTINGS_MODULE (docs/production.md).
    code = (
        "import runpy, sys; sys.argv = ['manage.py', 'shell', '--no-imports', '-c', "
        f"{SHOW_SETTINGS!r}]; runpy.run_path('manage.py', run_name='__main__')"
    )

    result = start(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["config.settings.local", "True", "True"]


@pytest.mark.parametrize("target", ["migrate", "seed", "run", "worker"])
def test_the_makefile_developer_targets_name_the_local_settings(target: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["make", "--dry-run", "--always-make", target],  # noqa: S607 - make from PATH
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    commands = [
        line
        for line in result.stdout.splitlines()
        if "manage.py" in line or "celery" in line or "config.devserver" in line
    ]
    assert commands, result.stdout + result.stderr
    assert all("DJANGO_SETTINGS_MODULE=config.settings.local" in line for line in commands)
