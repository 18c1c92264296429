"""What an API consumer writes with the Python client generated from /v1/schema/.

It uses only the generated package ``bulk_tasks_client`` (openapi-python-client):
log in, upload a CSV, poll the task until a worker has processed it, list the
organization's tasks two pages deep with the cursor, page through the task's
report lines, refresh the tokens and log out. It prints a JSON summary.

    BULK_TASKS_URL=http://127.0.0.1:8000 BULK_TASKS_EMAIL=reader@acme.example \\
    BULK_TASKS_PASSWORD=demo-password-2024 python python_usage.py

tests/clients/test_python_client.py generates the client from a live server,
runs this script against it, and type-checks it with ``mypy --strict``.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import TypeVar

from bulk_tasks_client import AuthenticatedClient, Client
from bulk_tasks_client.api.authentication import logout, obtain_token, refresh_token
from bulk_tasks_client.api.bulk_tasks import (
    create_bulk_task,
    get_bulk_task,
    list_bulk_task_lines,
    list_bulk_tasks,
)
from bulk_tasks_client.models import (
    BulkTask,
    BulkTaskCreateRequest,
    BulkTaskStatusEnum,
    ErrorEnvelope,
    TokenObtainInputRequest,
    TokenPair,
    TokenRefreshInputRequest,
)
from bulk_tasks_client.types import UNSET, File, Unset

Result = TypeVar("Result")

PEOPLE_CSV = (
    b"email,firstName,lastName\n"
    b"ada@example.com,Ada,Lovelace\n"
    b"not-an-email,Bad,Line\n"
    b"ada@example.com,Ada,Again\n"
    b"grace@example.com,Grace,Hopper\n"
)
DONE = {BulkTaskStatusEnum.COMPLETED, BulkTaskStatusEnum.FAILED}


class ApiError(Exception):
    """An error answer: every operation's errors share one model, ErrorEnvelope."""

    def __init__(self, envelope: ErrorEnvelope) -> None:
        super().__init__(f"{envelope.error.code}: {envelope.error.message}")
        self.code = envelope.error.code


def ok(result: Result | ErrorEnvelope | None) -> Result:
    """The success body, or raise: one place handles the errors of every operation."""
    if isinstance(result, ErrorEnvelope):
        raise ApiError(result)
    if result is None:
        raise RuntimeError("an answer the schema does not document")
    return result


def log_in(client: Client, email: str, password: str) -> TokenPair:
    body = TokenObtainInputRequest(email=email, password=password)
    return ok(obtain_token.sync(client=client, body=body)).data


def upload(api: AuthenticatedClient, organization: str) -> BulkTask:
    file = File(payload=io.BytesIO(PEOPLE_CSV), file_name="people.csv", mime_type="text/csv")
    body = BulkTaskCreateRequest(file=file, action="users.import", override=False)
    key = f"usage-{time.time_ns()}"
    return ok(create_bulk_task.sync(organization, client=api, body=body, idempotency_key=key)).data


def wait_until_done(api: AuthenticatedClient, organization: str, task_id: str) -> BulkTask:
    deadline = time.monotonic() + 60
    while True:
        task = ok(get_bulk_task.sync(organization, task_id, client=api)).data
        if task.status in DONE or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


def two_pages_of_tasks(api: AuthenticatedClient, organization: str) -> list[list[str]]:
    first = ok(list_bulk_tasks.sync(organization, client=api, limit=2)).data
    pages = [[task.id for task in first.items]]
    if first.has_more:
        # nextCursor goes back as cursor unchanged: one type both ways.
        second = ok(
            list_bulk_tasks.sync(organization, client=api, limit=2, cursor=first.next_cursor)
        ).data
        pages.append([task.id for task in second.items])
    return pages


def every_line(api: AuthenticatedClient, organization: str, task_id: str) -> list[str]:
    lines: list[str] = []
    cursor: str | Unset = UNSET
    while True:
        page = ok(
            list_bulk_task_lines.sync(organization, task_id, client=api, limit=1, cursor=cursor)
        ).data
        lines += [f"{line.line} {line.kind.value}: {line.reason}" for line in page.items]
        if not page.has_more:
            return lines
        cursor = page.next_cursor


def main() -> None:
    base_url = os.environ["BULK_TASKS_URL"]
    organization = os.environ.get("BULK_TASKS_ORGANIZATION", "acme")
    client = Client(base_url=base_url, raise_on_unexpected_status=True)

    tokens = log_in(client, os.environ["BULK_TASKS_EMAIL"], os.environ["BULK_TASKS_PASSWORD"])
    api = AuthenticatedClient(base_url=base_url, token=tokens.access)

    created = upload(api, organization)
    task = wait_until_done(api, organization, created.id)
    pages = two_pages_of_tasks(api, organization)
    lines = every_line(api, organization, task.id)

    refreshed = ok(
        refresh_token.sync(client=client, body=TokenRefreshInputRequest(refresh=tokens.refresh))
    ).data
    ok(logout.sync(client=client, body=TokenRefreshInputRequest(refresh=refreshed.refresh)))
    try:
        ok(
            refresh_token.sync(
                client=client, body=TokenRefreshInputRequest(refresh=refreshed.refresh)
            )
        )
        refused_after_logout = None
    except ApiError as error:
        refused_after_logout = error.code

    creator = task.created_by.email if not isinstance(task.created_by, Unset) else None
    summary = {
        "created": {"id": created.id, "status": created.status.value},
        "task": {
            "status": task.status.value,
            "items": task.report.num_items,
            "inserts": task.report.num_inserts,
            "errors": task.report.num_errors,
            "createdBy": creator,
        },
        "pages": pages,
        "lines": lines,
        "refusedAfterLogout": refused_after_logout,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
