"""Shared fixtures: an API client, members holding chosen permissions, captured JSON logs."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.logging import JsonFormatter, LogContextFilter
from tests.factories import MembershipFactory, OrganizationFactory, RoleFactory, UserFactory
from tests.workers import Worker, start_worker
from users import catalog
from users.authentication import verified_tokens_forget
from users.models import Organization, User


def bearer(user: User) -> str:
    """An Authorization header value carrying a fresh access token for the user."""
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.fixture(autouse=True)
def _clear_caches() -> Iterator[None]:
    """Start and end every test with empty caches: no rate-limit count nor verified token leaks."""
    for cache in caches.all():
        cache.clear()
    verified_tokens_forget()
    yield
    for cache in caches.all():
        cache.clear()
    verified_tokens_forget()


@pytest.fixture
def throttle_rates(settings, monkeypatch) -> Callable[..., None]:
    """Set rate limits for a test, e.g. ``throttle_rates(**{"reads.user": "2/min"})``.

    The limits count in fixed windows, so a test that crossed a window's end
    (a minute's, with "2/min") would find its budget whole again half way. The
    clock the counters read stands still for the test, mid-minute, mid-hour and
    mid-day, so that every request of the test falls in one window.
    """
    from core.throttling import RateThrottle

    day = 86_400
    midway = time.time() // day * day + day / 2 + 30 * 60 + 30
    monkeypatch.setattr(RateThrottle, "timer", staticmethod(lambda: midway))

    def set_rates(**rates: str | None) -> None:
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**current, **rates},
        }

    return set_rates


@pytest.fixture
def empty_queue() -> Iterator[None]:
    """Start and end with an empty queue: no message of an earlier test gets in the way."""
    from config.celery import app as celery_app

    celery_app.control.purge()
    yield
    celery_app.control.purge()


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start real Celery worker processes by name (``workers("one", SETTING=value)``); stopped after."""
    started: list[Worker] = []

    def start(name: str, **overrides: Any) -> Worker:
        worker = start_worker(tmp_path, name, **overrides)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def organization(db: None) -> Organization:
    return OrganizationFactory(slug="acme")


@pytest.fixture
def make_member(db: None) -> Callable[..., User]:
    """Make an active member of an organization holding the given permission strings."""

    def make(organization: Organization, permissions: list[str] | tuple[str, ...] = ()) -> User:
        user = UserFactory()
        role = RoleFactory(organization=organization, permissions=list(permissions))
        MembershipFactory(user=user, organization=organization, roles=[role])
        return user

    return make


@pytest.fixture
def reader(organization: Organization, make_member: Callable[..., User]) -> User:
    """A member who may read bulk tasks."""
    return make_member(organization, [catalog.BULK_TASK_GET])


@pytest.fixture
def reader_client(api_client: APIClient, reader: User) -> APIClient:
    api_client.credentials(HTTP_AUTHORIZATION=bearer(reader))
    return api_client


@pytest.fixture
def staff(db: None) -> User:
    """A staff superuser for the Django admin."""
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff: User):
    """Django's test client, logged in to the admin as staff."""
    client.force_login(staff)
    return client


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Log lines as production writes them (JSON formatter, request-id filter), parsed back.

    Yields a function returning every line logged so far at INFO or above.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
