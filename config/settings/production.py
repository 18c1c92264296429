"""Production settings: secure by default, and refuse to start with a missing or weak secret."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list
from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY

_MIN_SECRET_LENGTH = 50
_KNOWN_WEAK_PREFIXES = ("django-insecure", "local-development-key", "test-key", "change-me")


def _weak(secret: str) -> bool:
    """Tell whether a signing secret is missing, short, repetitive or a well-known placeholder."""
    return (
        len(secret) < _MIN_SECRET_LENGTH
        or len(set(secret)) < 5
        or secret.startswith(_KNOWN_WEAK_PREFIXES)
    )


# Checked even when DEBUG is switched on: these settings serve real traffic.
# Both keys come from the environment only: a key that is in the repository
# would let anyone who read it sign access tokens for any user.
if _weak(SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least "
        f"{_MIN_SECRET_LENGTH} characters in production, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
if _weak(str(SIMPLE_JWT["SIGNING_KEY"])):  # noqa: F405
    raise ImproperlyConfigured(
        f"JWT_SIGNING_KEY, when set, must be a random value of at least {_MIN_SECRET_LENGTH} "
        "characters in production (without it, SECRET_KEY signs the tokens)"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# TLS usually ends at a load balancer in front of gunicorn. Trust its
# X-Forwarded-Proto only when told to (USE_X_FORWARDED_PROTO=1): without a proxy
# that always sets or strips the header, a client could claim to be on HTTPS.
if env_bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# The documented deployment has one load balancer in front, appending the
# client's address to X-Forwarded-For, so one entry is trusted. A gunicorn that
# clients reach directly would trust whatever they write there, so the deploy
# check (core/checks.py) fails the release until NUM_PROXIES is set on purpose.
REST_FRAMEWORK["NUM_PROXIES"] = env_int("NUM_PROXIES", 1)  # noqa: F405
NUM_PROXIES_EXPLICIT = os.environ.get("NUM_PROXIES", "").strip() != ""

# Webhooks go to https URLs of public addresses only, whatever a base module said.
WEBHOOK_ALLOW_HTTP_LOOPBACK = False
