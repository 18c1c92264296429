"""System checks that ``manage.py check --deploy`` runs on the production settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning

NUM_PROXIES_UNSET = "core.W001"


@register(Tags.security, deploy=True)
def num_proxies_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Warn when production trusts ``X-Forwarded-For`` by default rather than by the operator's word."""
    # Settings other than production never set the flag: they trust no proxy.
    if getattr(settings, "NUM_PROXIES_EXPLICIT", True):
        return []
    return [
        CheckWarning(
            "NUM_PROXIES is not set: production assumes one proxy in front, appending "
            "the client's address to X-Forwarded-For. If clients reach gunicorn "
            "directly, each one chooses the address its login attempts and rate "
            "limits count against.",
            hint=(
                "Set NUM_PROXIES to the number of proxies in front of the service: "
                "1 behind one load balancer, 0 when gunicorn is exposed directly."
            ),
            id=NUM_PROXIES_UNSET,
        )
    ]
