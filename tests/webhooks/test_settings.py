"""Which settings let webhooks reach this machine: local and test only, never production."""

from __future__ import annotations

import pytest

from tests.config.test_settings import SETUP, clean_env, strong_secret
from tests.processes import python_run

PROBE = (
    f"{SETUP}; from django.conf import settings; "
    "from webhooks.ssrf import UrlRefused, url_check\n"
    "try:\n    url_check('http://127.0.0.1:9/hooks'); print('accepted')\n"
    "except UrlRefused as exc:\n    print(exc.rule)"
)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("config.settings.production", "https"),
        ("config.settings.local", "accepted"),
        ("config.settings.test", "accepted"),
    ],
)
def test_http_to_loopback_is_accepted_by_the_local_and_test_settings_only(module, expected):
    # The environment cannot turn it on in production: the setting is not read from it.
    env = clean_env(
        DJANGO_SETTINGS_MODULE=module,
        SECRET_KEY=strong_secret(),
        WEBHOOK_ALLOW_HTTP_LOOPBACK="1",
    )

    result = python_run(["-c", PROBE], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
