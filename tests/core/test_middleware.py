"""The rest of a request body is read before the answer goes out, so closing does not reset it."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from core.middleware import DrainRequestBodyMiddleware
from tests.conftest import bearer
from tests.factories import UserFactory

BODY = b"email,firstName,lastName\n" + b"person@example.com,Ada,Lovelace\n" * 2000


def unread(request: HttpRequest) -> int:
    """Bytes of the body still waiting in the request's stream."""
    stream = request._stream  # type: ignore[attr-defined]
    return stream.limit - stream._pos


def answer_without_reading(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=503)


def test_a_body_the_view_never_read_is_read_before_the_answer_goes_out(rf: RequestFactory):
    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")
    assert unread(request) == len(BODY)

    response = DrainRequestBodyMiddleware(answer_without_reading)(request)

    assert response.status_code == 503
    assert unread(request) == 0


def test_the_rest_of_a_body_read_half_way_is_read(rf: RequestFactory):
    def read_some(request: HttpRequest) -> HttpResponse:
        request.read(100)
        return HttpResponse(status=413)

    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")

    DrainRequestBodyMiddleware(read_some)(request)

    assert unread(request) == 0


def test_a_body_declared_larger_than_any_accepted_upload_is_left_alone(
    rf: RequestFactory, settings
):
    settings.BULK_TASK_MAX_FILE_SIZE = 10
    request = rf.post("/v1/anything", data=b"x" * (64 * 1024 + 11), content_type="text/csv")

    DrainRequestBodyMiddleware(answer_without_reading)(request)

    assert unread(request) == 64 * 1024 + 11


def test_a_body_the_view_read_whole_costs_nothing_more(rf: RequestFactory):
    def read_all(request: HttpRequest) -> HttpResponse:
        assert request.body == BODY
        return HttpResponse(status=201)

    request = rf.post("/v1/anything", data=BODY, content_type="text/csv")

    assert DrainRequestBodyMiddleware(read_all)(request).status_code == 201


@pytest.mark.django_db
def test_an_upload_refused_before_its_body_is_read_has_its_body_read(client):
    user = UserFactory()  # a member of no organization: refused with 404 before the body is read

    response = client.post(
        "/v1/organizations/acme/bulk-tasks",
        data=BODY,
        content_type="text/csv",
        HTTP_AUTHORIZATION=bearer(user),
    )

    assert response.status_code == 404
    assert unread(response.wsgi_request) == 0
