"""Rate limits that know about accounts: per organization, and failed logins per e-mail."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.exceptions import InvalidCredentials
from core.throttling import (
    CACHE_UNAVAILABLE,
    RateThrottle,
    address_bucket,
    counter_hit,
    counter_uncount,
    rate_get,
    window_key,
)
from users.managers import UserManager

logger = logging.getLogger(__name__)


class OrganizationThrottle(RateThrottle):
    """Per organization, shared by all its members; counted once the organization is resolved.

    The identity is the resolved organization's id, never the path segment, so
    that addressing an organization by slug and by id spends the same budget.
    """

    identity = "organization"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The id of the organization the view resolved for this request."""
        access = getattr(view, "organization_access", None)
        return str(access.organization.pk) if access is not None else None


class LoginFailureThrottle(BaseThrottle):
    """Failed logins with one e-mail: strictly per client address, under a ceiling per e-mail.

    Whether an attempt failed is known only after the password check, so this
    throttle is settled then: ``allow_request`` counts the attempt as a failure
    at once, atomically, so that parallel guesses cannot all slip under the
    limit, and ``login_succeeded`` or ``attempt_void`` take it back. Use it
    through ``login_failures_counted``.

    Past the e-mail's ceiling only a known pair, an (e-mail, address bucket)
    that logged in successfully within ``known_pair_days``, is let through: the
    owner still gets in from where they usually do, while guesses spread over
    any number of addresses stop at the ceiling.
    """

    address_scope = "login_failures.email_ip"
    ceiling_scope = "login_failures.email"
    known_pair_days = 30
    cache_alias = "default"
    timer = staticmethod(time.time)

    def __init__(self, *, email: str) -> None:
        # E-mails match case-insensitively at login, so they count that way too.
        self.email = UserManager.normalize_email(email)
        self.retry_after: float | None = None
        self._pair: str | None = None
        self._address_key: str | None = None
        self._ceiling_key: str | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        """Count this attempt as failed; refuse it when its address, or the e-mail's ceiling, is spent."""
        address_rate = rate_get(self.address_scope)
        ceiling_rate = rate_get(self.ceiling_scope)
        cache = caches[self.cache_alias]
        now = self.timer()
        self._pair = _digest(f"{self.email}\n{address_bucket(self.get_ident(request))}")
        try:
            if address_rate is not None:
                key, address_end = window_key(
                    scope=self.address_scope, ident=self._pair, rate=address_rate, now=now
                )
                failures = counter_hit(cache=cache, key=key, period=address_rate.period)
                if failures > address_rate.limit:
                    counter_uncount(cache=cache, key=key)  # a refused attempt is no failure
                    return self._refuse(until=address_end, now=now)
                self._address_key = key
            if ceiling_rate is not None:
                key, ceiling_end = window_key(
                    scope=self.ceiling_scope, ident=_digest(self.email), rate=ceiling_rate, now=now
                )
                failures = counter_hit(cache=cache, key=key, period=ceiling_rate.period)
                self._ceiling_key = key
                # Letting any address without failures through would give an
                # attacker with many addresses unbounded guesses; only a pair
                # that logged in before passes, and only its own failures count
                # further (the per-address limit still holds it).
                if failures > ceiling_rate.limit and not cache.get(self._known_key()):
                    self.attempt_void()
                    return self._refuse(until=ceiling_end, now=now)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("login failures not counted, the cache is unavailable: %s", exc)
        return True

    def wait(self) -> float | None:
        """Seconds until the budget that refused the attempt is whole again."""
        return self.retry_after

    def login_succeeded(self) -> None:
        """The password was right: forget the address's failures, do not count this attempt, remember the pair."""
        cache = caches[self.cache_alias]
        try:
            if self._address_key is not None:
                cache.delete(self._address_key)
            if self._ceiling_key is not None:
                counter_uncount(cache=cache, key=self._ceiling_key)
            if self._pair is not None:
                cache.set(self._known_key(), 1, timeout=self.known_pair_days * 24 * 3600)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("login failures not reset, the cache is unavailable: %s", exc)
        self._address_key = self._ceiling_key = None

    def attempt_void(self) -> None:
        """The attempt got no verdict on its password (refused, or an outage): take its count back."""
        cache = caches[self.cache_alias]
        try:
            for key in (self._address_key, self._ceiling_key):
                if key is not None:
                    counter_uncount(cache=cache, key=key)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("login failures not corrected, the cache is unavailable: %s", exc)
        self._address_key = self._ceiling_key = None

    def _known_key(self) -> str:
        return f"login_known_pair:{self._pair}"

    def _refuse(self, *, until: float, now: float) -> bool:
        self.retry_after = until - now
        return False


@contextmanager
def login_failures_counted(*, request: Request, view: APIView, email: str) -> Iterator[None]:
    """Run a login that counts as a failure unless it succeeds; 429 once the failures are over a limit.

    Only ``InvalidCredentials`` (a wrong password, or no such account) is a
    failure: any other error says nothing about the password and is not counted.
    """
    throttle = LoginFailureThrottle(email=email)
    if not throttle.allow_request(request, view):
        view.throttled(request, throttle.wait() or 0.0)
    try:
        yield
    except InvalidCredentials:
        raise
    except BaseException:
        throttle.attempt_void()
        raise
    throttle.login_succeeded()


def _digest(text: str) -> str:
    """A digest of an e-mail (and address), so that cache keys hold no personal data."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
