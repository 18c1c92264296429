"""A dry run on real worker processes, then the real run of the same file: the same report.

Several chunks of each file run on two workers at once, as in production.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from bulktasks.models import BulkTask, BulkTaskChunk
from tests.bulktasks.files import csv_file
from tests.bulktasks.outcomes import OUTCOME_HEADER, database_state, outcome_rows, outcome_state
from tests.conftest import bearer
from tests.factories import MembershipFactory, OrganizationFactory
from tests.workers import wait_for
from users import catalog
from users.models import Membership

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("empty_queue"),
]

ROWS = 400
CHUNK_SIZE = 25


def test_a_dry_run_on_workers_writes_nothing_and_the_real_run_reports_the_same(
    api_client, workers, settings, throttle_rates
):
    settings.BULK_TASK_CHUNK_SIZE = CHUNK_SIZE
    throttle_rates(**{"reads.user": None, "reads.organization": None})
    organization = OrganizationFactory(slug="acme")
    member = MembershipFactory(organization=organization).user
    member.memberships.get().roles.create(
        organization=organization,
        name="ops",
        permissions=[catalog.BULK_TASK_CREATE, catalog.BULK_TASK_GET],
    )
    api_client.credentials(HTTP_AUTHORIZATION=bearer(member))
    outcome_state(organization, ROWS)
    workers("one", BULK_TASK_CHUNK_SIZE=CHUNK_SIZE)
    workers("two", BULK_TASK_CHUNK_SIZE=CHUNK_SIZE)
    before = database_state()

    def run(**fields: str) -> dict[str, Any]:
        created = api_client.post(
            "/v1/organizations/acme/bulk-tasks",
            {
                "action": "users.import",
                "file": csv_file(outcome_rows(ROWS), header=OUTCOME_HEADER),
                "override": "true",
                **fields,
            },
            format="multipart",
        )
        assert created.status_code == 201, created.content
        task_id = created.json()["data"]["id"]

        def finished() -> dict[str, Any] | None:
            connection.close()  # see the workers' commits
            data = api_client.get(f"/v1/organizations/acme/bulk-tasks/{task_id}").json()["data"]
            return data if data["status"] in ("completed", "failed") else None

        return wait_for(finished, timeout=180, interval=0.1)

    dry = run(dryRun="true")

    assert dry["status"] == "completed", dry.get("error")
    assert dry["config"] == {"override": True, "dryRun": True}
    connection.close()
    assert database_state() == before
    chunks = BulkTaskChunk.objects.filter(task_id=dry["id"])
    assert chunks.count() == ROWS // CHUNK_SIZE
    # Both workers applied chunks of the dry run.
    assert {chunk.lease_owner.partition("@")[0] for chunk in chunks} == {"one", "two"}

    real = run()

    assert real["status"] == "completed", real.get("error")
    assert real["config"] == {"override": True, "dryRun": False}
    assert real["report"] == dry["report"]
    report = real["report"]
    assert report["numItems"] == ROWS
    # Every outcome is in the file: inserts, updates, skips, errors and repeats.
    assert min(report["numInserts"], report["numUpdates"], report["numSkips"]) > 0
    reasons = [line["reason"] for line in report["erroredLines"]]
    assert "email: duplicate of line 2" in reasons
    assert any(
        reason.startswith("email: duplicate of line ") and reason != reasons[0]
        for reason in reasons
    )
    connection.close()
    assert BulkTask.objects.get(pk=real["id"]).num_done == ROWS
    imported = Membership.objects.filter(organization=organization, last_import_task_id=real["id"])
    assert imported.count() == report["numInserts"] + report["numUpdates"]
