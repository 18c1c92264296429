"""The rate-limit machinery: rates, the fixed-window counter, and what happens when the cache is down."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIRequestFactory

from config.env import parse_rate
from core.throttling import (
    ClientIpThrottle,
    Rate,
    address_bucket,
    counter_hit,
    counter_uncount,
    rate_get,
    rate_parse,
)
from users.throttling import LoginFailureThrottle

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


class FixedIpThrottle(ClientIpThrottle):
    """A client-address throttle whose clock the test sets."""

    now = 1_000_000.0
    timer = staticmethod(lambda: FixedIpThrottle.now)


@pytest.fixture
def view() -> SimpleNamespace:
    return SimpleNamespace(throttle_scope="token")


@pytest.fixture
def request_from():
    factory = APIRequestFactory()

    def build(address: str = "10.0.0.1", **headers: str):
        return factory.post("/v1/auth/token", REMOTE_ADDR=address, **headers)

    return build


@pytest.fixture(autouse=True)
def _clock() -> None:
    FixedIpThrottle.now = 1_000_000.0


# --- Rates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("600/min", (600, 60)),
        ("5/s", (5, 1)),
        ("10/second", (10, 1)),
        ("100/hour", (100, 3600)),
        ("2/hours", (2, 3600)),
        ("1/day", (1, 86400)),
        (" 30 / Minute ", (30, 60)),
        ("7/m", (7, 60)),
        ("10/15min", (10, 900)),
        ("3/ 2 hours", (3, 7200)),
    ],
)
def test_a_rate_is_requests_per_period(text: str, expected: tuple[int, int]) -> None:
    assert parse_rate(text) == expected
    assert rate_parse(text) == Rate(limit=expected[0], period=expected[1])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "600",
        "600/",
        "/min",
        "0/min",
        "-1/min",
        "ten/min",
        "5/week",
        "10/0min",
        "10/15",
        "\uff11/min",  # a full-width digit
    ],
)
def test_a_malformed_rate_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ValueError, match="600/min"):
        parse_rate(text)
    with pytest.raises(ImproperlyConfigured):
        rate_parse(text)


def test_a_scope_nobody_configured_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"no\.such"):
        rate_get("no.such")


def test_an_empty_rate_means_no_limit(throttle_rates) -> None:
    throttle_rates(**{"token.ip": None})

    assert rate_get("token.ip") is None


# --- The counter ----------------------------------------------------------------------------


def test_the_counter_counts_within_a_key_and_keys_are_independent() -> None:
    cache = caches["default"]

    counts = [counter_hit(cache=cache, key="k1", period=60) for _ in range(3)]
    other = counter_hit(cache=cache, key="k2", period=60)

    assert counts == [1, 2, 3]
    assert other == 1


def test_a_count_taken_back_is_gone_and_a_missing_key_stays_missing() -> None:
    cache = caches["default"]
    counter_hit(cache=cache, key="k1", period=60)
    counter_hit(cache=cache, key="k1", period=60)

    counter_uncount(cache=cache, key="k1")
    counter_uncount(cache=cache, key="gone")

    assert cache.get("k1") == 1
    assert cache.get("gone") is None


# --- The throttle ---------------------------------------------------------------------------


def test_requests_over_the_limit_are_refused_until_the_window_ends(
    throttle_rates, view, request_from
) -> None:
    throttle_rates(**{"token.ip": "2/min"})
    FixedIpThrottle.now = 6000.0 + 15  # 15 seconds into a one-minute window

    allowed = [FixedIpThrottle().allow_request(request_from(), view) for _ in range(2)]
    refused = FixedIpThrottle()

    assert allowed == [True, True]
    assert refused.allow_request(request_from(), view) is False
    assert refused.wait() == 45
    FixedIpThrottle.now = 6060.0
    assert FixedIpThrottle().allow_request(request_from(), view) is True


def test_each_address_has_its_own_budget(throttle_rates, view, request_from) -> None:
    throttle_rates(**{"token.ip": "1/min"})

    assert FixedIpThrottle().allow_request(request_from("10.0.0.1"), view) is True
    assert FixedIpThrottle().allow_request(request_from("10.0.0.1"), view) is False
    assert FixedIpThrottle().allow_request(request_from("10.0.0.2"), view) is True


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv4_address_counts_whole_and_an_ipv6_one_by_its_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket


def test_addresses_in_one_ipv6_64_share_a_budget(throttle_rates, view, request_from) -> None:
    throttle_rates(**{"token.ip": "2/min"})

    same_64 = [
        FixedIpThrottle().allow_request(request_from(f"2001:db8:1:2::{n:x}"), view)
        for n in range(1, 4)
    ]
    next_64 = FixedIpThrottle().allow_request(request_from("2001:db8:1:3::1"), view)

    assert same_64 == [True, True, False]
    assert next_64 is True


def test_a_forged_forwarded_for_header_does_not_buy_a_new_budget(
    throttle_rates, view, request_from
) -> None:
    throttle_rates(**{"token.ip": "1/min"})

    first = FixedIpThrottle().allow_request(request_from(HTTP_X_FORWARDED_FOR="1.1.1.1"), view)
    second = FixedIpThrottle().allow_request(request_from(HTTP_X_FORWARDED_FOR="2.2.2.2"), view)

    assert (first, second) == (True, False)


def test_behind_one_proxy_the_address_it_appended_is_the_client(
    settings, throttle_rates, view, request_from
) -> None:
    throttle_rates(**{"token.ip": "1/min"})
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    # The client wrote the first entry itself; the proxy appended the second.
    first = request_from("10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.1.1.1")
    forged = request_from("10.9.9.9", HTTP_X_FORWARDED_FOR="7.7.7.7, 1.1.1.1")
    other = request_from("10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 2.2.2.2")

    assert FixedIpThrottle().allow_request(first, view) is True
    assert FixedIpThrottle().allow_request(forged, view) is False
    assert FixedIpThrottle().allow_request(other, view) is True


def test_a_view_without_a_scope_is_not_limited(throttle_rates, request_from) -> None:
    throttle_rates(**{"token.ip": "1/min"})
    view = SimpleNamespace()

    assert all(FixedIpThrottle().allow_request(request_from(), view) for _ in range(5))


def test_an_unreachable_cache_lets_requests_through_and_says_so(
    throttle_rates, view, request_from, monkeypatch, caplog
) -> None:
    throttle_rates(**{"token.ip": "1/min"})

    def unreachable(**kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr("core.throttling.counter_hit", unreachable)

    assert all(FixedIpThrottle().allow_request(request_from(), view) for _ in range(3))
    assert "rate limit not checked" in caplog.text


def test_other_cache_errors_are_not_hidden(throttle_rates, view, request_from, monkeypatch) -> None:
    throttle_rates(**{"token.ip": "1/min"})

    def broken(**kwargs):
        raise redis.exceptions.ResponseError("WRONGTYPE")

    monkeypatch.setattr("core.throttling.counter_hit", broken)

    with pytest.raises(redis.exceptions.ResponseError):
        FixedIpThrottle().allow_request(request_from(), view)


# --- On a real Redis (make test-redis; CI runs it) -----------------------------------------


@pytest.fixture
def redis_cache():
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    client = cache._cache.get_client(write=True)
    client.ping()  # fail loudly, never skip, when Redis is not there
    yield cache
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.mark.redis
def test_on_redis_the_counter_counts_and_every_key_expires(redis_cache) -> None:
    counts = [counter_hit(cache=redis_cache, key="k", period=60) for _ in range(3)]

    client = redis_cache._cache.get_client(write=True)
    full_key = redis_cache.make_and_validate_key("k")
    assert counts == [1, 2, 3]
    assert 0 < client.ttl(full_key) <= 60
    # Django's own API reads the same counter.
    assert redis_cache.get("k") == 3


@pytest.mark.redis
def test_on_redis_a_count_taken_back_keeps_its_expiry_and_never_revives_a_key(
    redis_cache,
) -> None:
    counter_hit(cache=redis_cache, key="k", period=60)
    counter_hit(cache=redis_cache, key="k", period=60)

    counter_uncount(cache=redis_cache, key="k")
    counter_uncount(cache=redis_cache, key="expired")

    client = redis_cache._cache.get_client(write=True)
    assert redis_cache.get("k") == 1
    assert 0 < client.ttl(redis_cache.make_and_validate_key("k")) <= 60
    # Django's decr would have left -1 here, with no expiry.
    assert not client.exists(redis_cache.make_and_validate_key("expired"))


@pytest.fixture
def login_attempt(redis_cache, request_from, monkeypatch) -> Callable[..., bool]:
    """A failed (or, if it succeeds, a good) login of one e-mail from an address, counted on Redis."""
    monkeypatch.setattr("users.throttling.caches", {"default": redis_cache})

    def attempt(address: str, *, succeeds: bool = False) -> bool:
        throttle = LoginFailureThrottle(email="ada@example.com")
        allowed = throttle.allow_request(request_from(address), None)
        if allowed and succeeds:
            throttle.login_succeeded()
        return allowed

    return attempt


@pytest.mark.redis
def test_on_redis_failed_logins_lock_out_one_address_and_a_success_forgets_them(
    throttle_rates, login_attempt
) -> None:
    throttle_rates(**{"login_failures.email_ip": "2/15min", "login_failures.email": "100/hour"})

    failures = [login_attempt("10.0.0.1"), login_attempt("10.0.0.1")]
    refused = login_attempt("10.0.0.1", succeeds=True)
    owner = [login_attempt("10.0.0.2"), login_attempt("10.0.0.2", succeeds=True)]

    assert (failures, refused) == ([True, True], False)
    # The owner's success took back their own attempt and forgot their failure.
    assert owner == [True, True]
    assert [login_attempt("10.0.0.2") for _ in range(3)] == [True, True, False]


@pytest.mark.redis
def test_on_redis_past_the_ceiling_only_a_known_pair_is_let_through(
    redis_cache, throttle_rates, login_attempt
) -> None:
    throttle_rates(**{"login_failures.email_ip": "10/15min", "login_failures.email": "2/hour"})

    known = login_attempt("2001:db8::1", succeeds=True)
    guesses = [login_attempt(f"10.0.0.{n}") for n in range(1, 5)]
    owner = login_attempt("2001:db8::2", succeeds=True)
    client = redis_cache._cache.get_client()
    stored = b" ".join(client.scan_iter(match=f"{redis_cache.key_prefix}:*"))
    (known_key,) = client.scan_iter(match=f"{redis_cache.key_prefix}:*login_known_pair:*")

    assert known is True
    assert guesses == [True, True, False, False]
    assert owner is True
    assert 0 < client.ttl(known_key) <= 30 * 24 * 3600  # remembered for 30 days, then forgotten
    assert b"ada" not in stored  # keys hold no e-mail in clear


@pytest.mark.redis
def test_on_redis_a_check_is_one_round_trip(redis_cache, monkeypatch) -> None:
    counter_hit(cache=redis_cache, key="k", period=60)
    commands: list[str] = []
    send = redis.Redis.execute_command

    def recording(self, *args, **kwargs):
        commands.append(str(args[0]))
        return send(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", recording)

    assert counter_hit(cache=redis_cache, key="k", period=60) == 2
    assert commands == ["EVALSHA"]


@pytest.mark.redis
def test_on_redis_a_flushed_script_cache_is_reloaded(redis_cache) -> None:
    counter_hit(cache=redis_cache, key="k", period=60)
    redis_cache._cache.get_client(write=True).script_flush()

    assert counter_hit(cache=redis_cache, key="k", period=60) == 2


@pytest.mark.redis
def test_on_redis_the_limit_holds_across_processes_sharing_it(
    redis_cache, throttle_rates, view, request_from, monkeypatch
) -> None:
    throttle_rates(**{"token.ip": "3/min"})
    # Two caches on the same server stand for two web processes.
    other_process = RedisCache(REDIS_URL, {"KEY_PREFIX": redis_cache.key_prefix})
    monkeypatch.setattr("core.throttling.caches", {"default": redis_cache})
    shared_key = f"throttle:token.ip:10.0.0.1:{int(FixedIpThrottle.now // 60)}"

    first = [FixedIpThrottle().allow_request(request_from(), view) for _ in range(2)]
    counter_hit(cache=other_process, key=shared_key, period=60)

    assert first == [True, True]
    assert other_process.get(shared_key) == 3
    assert FixedIpThrottle().allow_request(request_from(), view) is False
