"""The part of an import only the database can speed up: COPY the rows users.import writes, nothing else.

    python bench/copy_only.py FILE     (DATABASE_URL names a PostgreSQL database, migrated)

Writes one user and one membership per line of the CSV with COPY, in chunks of
1,000 committed one by one, into the real tables with their real indexes and
constraints: no lookup, no validation, no report. Prints one JSON line with the
lines per second: an upper bound for any importer that writes the same rows
into the same tables on this database.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.bulk import db_datetime, rows_insert  # noqa: E402
from core.ids import object_id  # noqa: E402
from users.models import Membership, Organization, User  # noqa: E402

CHUNK = 1000


def main() -> None:
    organization = Organization.objects.get(slug=sys.argv[2] if len(sys.argv) > 2 else "bench")
    with open(sys.argv[1], encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    started = time.perf_counter()
    now = db_datetime(timezone.now())
    for start in range(0, len(rows), CHUNK):
        users, memberships = [], []
        for row in rows[start : start + CHUNK]:
            # The rows users.import writes for a new person: an account with an
            # empty profile, and a membership carrying the line's.
            user_id = object_id()
            users.append((user_id, "!", False, row["email"], "", "", "", True, False, now, now))
            memberships.append(
                (object_id(), user_id, organization.pk, True, False, row["firstName"],
                 row["lastName"], "", now, "", None)
            )  # fmt: skip
        with transaction.atomic():
            with connection.cursor() as cursor:  # as users.import commits its chunks
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            fields = ("id", "password", "is_superuser", "email", "first_name", "last_name",
                      "picture", "is_active", "is_staff", "date_joined", "updated_at")  # fmt: skip
            rows_insert(User, fields, users)
            rows_insert(
                Membership,
                ("id", "user", "organization", "is_active", "pending_approval", "first_name",
                 "last_name", "picture", "created_at", "last_import_task_id", "last_import_line"),
                memberships,
            )  # fmt: skip
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"lines": len(rows), "seconds": seconds, "lines_per_second": len(rows) / seconds}
        )
    )


if __name__ == "__main__":
    main()
