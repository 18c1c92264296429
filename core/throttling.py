"""Rate limits: fixed-window counters in the shared cache, one round trip per scope.

A view names its ``throttle_scope`` (``reads``, ``uploads``, ``token``); each
throttle class adds the identity it counts by (``user``, ``organization``,
``ip``, ``email``), and the rate of ``<scope>.<identity>`` comes from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``. A scope whose rate is None is not
limited.

DRF's ``SimpleRateThrottle`` keeps a list of timestamps per identity and reads
then writes it: two round trips and a pickled list as long as the limit. A
fixed window needs one atomic increment, so a check stays cheap on the GET
path. The price is that a client may spend two windows' worth of requests
around a window boundary, which is acceptable for abuse protection.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import redis
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from config.env import parse_rate

logger = logging.getLogger(__name__)

# A cache that cannot be reached, or cannot write (a replica left read-only
# after a failover, out of memory), lets requests through: a rate limiter must
# not take the whole API down with it. Anything else is a bug and is raised.
CACHE_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` requests in each window of ``period`` seconds."""

    limit: int
    period: int


@lru_cache(maxsize=128)
def rate_parse(text: str) -> Rate:
    """Read a rate such as ``600/min``."""
    try:
        limit, period = parse_rate(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DEFAULT_THROTTLE_RATES: {exc}") from exc
    return Rate(limit=limit, period=period)


def rate_get(scope: str) -> Rate | None:
    """The configured rate of a scope, None when the scope is not limited."""
    rates = api_settings.DEFAULT_THROTTLE_RATES
    if scope not in rates:
        # A scope nobody configured is a mistake in the code, not "unlimited".
        raise ImproperlyConfigured(f"DEFAULT_THROTTLE_RATES has no rate for {scope!r}")
    text = rates[scope]
    return rate_parse(text) if text else None


def counter_hit(*, cache: BaseCache, key: str, period: int) -> int:
    """Count one request under ``key`` and return the count so far in this window."""
    if isinstance(cache, RedisCache):
        return _redis_counter_hit(cache, key, period)
    # Local memory and memcached increment atomically and keep the expiry; the
    # first request of a window finds no key and creates it.
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, timeout=period):
            return 1
        return cache.incr(key)


# INCR and, for a window's first request, EXPIRE: atomic, and one reply.
_REDIS_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# Building a Redis client costs more than the round trip itself, so each cache
# object (Django makes one per thread) keeps the script bound to its client.
_redis_scripts: WeakKeyDictionary[RedisCache, Any] = WeakKeyDictionary()


def _redis_counter_hit(cache: RedisCache, key: str, period: int) -> int:
    """One EVALSHA. Django's ``RedisCache.incr`` checks EXISTS first and never sets an expiry."""
    script = _redis_scripts.get(cache)
    if script is None:
        client = cache._cache.get_client(write=True)
        script = _redis_scripts[cache] = client.register_script(_REDIS_INCREMENT)
    return int(script(keys=[cache.make_and_validate_key(key)], args=[period]))


class RateThrottle(BaseThrottle):
    """Counts a request against ``<view.throttle_scope>.<identity>``; subclasses say who."""

    identity: str = ""
    cache_alias = "default"
    timer = staticmethod(time.time)

    def __init__(self) -> None:
        self.retry_after: float | None = None

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The value counted by (a user id, an address...); None leaves the request alone."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        """Count the request and tell whether it is within the limit."""
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        scope = f"{scope}.{self.identity}"
        rate = rate_get(scope)
        if rate is None:
            return True
        ident = self.get_identity(request, view)
        if ident is None:
            return True
        now = self.timer()
        window = int(now // rate.period)
        try:
            count = counter_hit(
                cache=caches[self.cache_alias],
                key=f"throttle:{scope}:{ident}:{window}",
                period=rate.period,
            )
        except CACHE_UNAVAILABLE as exc:
            logger.warning("rate limit not checked, the cache is unavailable: %s", exc)
            return True
        if count <= rate.limit:
            return True
        self.retry_after = (window + 1) * rate.period - now
        return False

    def wait(self) -> float | None:
        """Seconds until the current window ends and the budget is whole again."""
        return self.retry_after


class UserThrottle(RateThrottle):
    """Per authenticated user, whichever organization they act in."""

    identity = "user"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The user's id."""
        user = request.user
        return str(user.pk) if user is not None and user.is_authenticated else None


class ClientIpThrottle(RateThrottle):
    """Per client address; behind proxies, ``NUM_PROXIES`` says which X-Forwarded-For entry to trust."""

    identity = "ip"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The client's IP address."""
        return self.get_ident(request) or None
