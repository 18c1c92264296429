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

import contextlib
import ipaddress
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


def window_key(*, scope: str, ident: str, rate: Rate, now: float) -> tuple[str, float]:
    """The counter key of ``ident`` in ``scope`` for the window holding ``now``, and when it ends."""
    window = int(now // rate.period)
    return f"throttle:{scope}:{ident}:{window}", float((window + 1) * rate.period)


def counter_hit(*, cache: BaseCache, key: str, period: int) -> int:
    """Count one request under ``key`` and return the count so far in this window."""
    if isinstance(cache, RedisCache):
        # One EVALSHA: Django's ``RedisCache.incr`` checks EXISTS first and never sets an expiry.
        increment = _redis_script(cache, _REDIS_INCREMENT)
        return int(increment(keys=[cache.make_and_validate_key(key)], args=[period]))
    # Local memory and memcached increment atomically and keep the expiry; the
    # first request of a window finds no key and creates it.
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, timeout=period):
            return 1
        return cache.incr(key)


def counter_uncount(*, cache: BaseCache, key: str) -> None:
    """Take one count back from ``key``, unless its window has ended meanwhile."""
    if isinstance(cache, RedisCache):
        _redis_script(cache, _REDIS_DECREMENT)(keys=[cache.make_and_validate_key(key)])
        return
    # A key that expired with its window has nothing left to take back.
    with contextlib.suppress(ValueError):
        cache.decr(key)


# INCR and, for a window's first request, EXPIRE: atomic, and one reply.
_REDIS_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# DECR only a key that still exists: Django's ``decr`` checks EXISTS in a
# separate round trip, and a key expiring in between would come back from
# DECR as -1 with no expiry at all.
_REDIS_DECREMENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""
# Building a Redis client costs more than the round trip itself, so each cache
# object (Django makes one per thread) keeps its scripts bound to its client.
_redis_scripts: WeakKeyDictionary[RedisCache, dict[str, Any]] = WeakKeyDictionary()


def _redis_script(cache: RedisCache, source: str) -> Any:
    """A Lua script bound to the cache's client: one EVALSHA per call, reloaded if flushed."""
    scripts = _redis_scripts.get(cache)
    if scripts is None:
        scripts = _redis_scripts[cache] = {}
    script = scripts.get(source)
    if script is None:
        client = cache._cache.get_client(write=True)
        script = scripts[source] = client.register_script(source)
    return script


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
        key, window_end = window_key(scope=scope, ident=ident, rate=rate, now=now)
        try:
            count = counter_hit(cache=caches[self.cache_alias], key=key, period=rate.period)
        except CACHE_UNAVAILABLE as exc:
            logger.warning("rate limit not checked, the cache is unavailable: %s", exc)
            return True
        if count <= rate.limit:
            return True
        self.retry_after = window_end - now
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
    """Per client address (an IPv6 client per /64); ``NUM_PROXIES`` says which X-Forwarded-For entry to trust."""

    identity = "ip"

    def get_identity(self, request: Request, view: Any) -> str | None:
        """The client's address bucket (``address_bucket``)."""
        return address_bucket(self.get_ident(request)) or None


def client_address(request: Any) -> str:
    """The client's whole address (limits count its ``address_bucket``); ``NUM_PROXIES`` says which X-Forwarded-For entry to trust."""
    return BaseThrottle().get_ident(request)


def address_bucket(address: str) -> str:
    """The unit a per-address limit counts by: an IPv4 address whole, an IPv6 one by its /64.

    One IPv6 subscriber is routinely given a whole /64 (2^64 addresses, SLAAC
    privacy addresses rotate within it), so counting each IPv6 address on its
    own would hand one client an unbounded number of budgets. An IPv4-mapped
    IPv6 address counts as the IPv4 address it carries. Anything that does not
    parse (a proxy's odd entry) is counted as written.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
