"""The reference importer: django-import-export, with its documented fast settings.

    python bench/import_export_reference.py FILE --organization SLUG

Imports the same CSV into the same user and membership tables as users.import:
one ModelResource for users (use_bulk, skip_diff, force_init_instance), and the
memberships bulk-created after each batch. Prints one JSON line with the time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django

django.setup()

import tablib  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from import_export import fields, resources  # noqa: E402

from users.models import Membership, Organization, User  # noqa: E402


class UserResource(resources.ModelResource):
    """users.import's columns, mapped onto the User model."""

    email = fields.Field(attribute="email", column_name="email")
    first_name = fields.Field(attribute="first_name", column_name="firstName")
    last_name = fields.Field(attribute="last_name", column_name="lastName")

    def __init__(self, organization: Organization) -> None:
        super().__init__()
        self.organization = organization

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")
        import_id_fields = ("email",)
        use_bulk = True
        skip_diff = True
        force_init_instance = True
        batch_size = 1000
        skip_unchanged = False
        report_skipped = False

    def before_save_instance(self, instance: User, row: object, **kwargs: object) -> None:
        instance.email = instance.email.lower()
        instance.password = make_password(None)

    def bulk_create(
        self,
        using_transactions: bool,
        dry_run: bool,
        raise_errors: bool,
        batch_size: int | None = None,
        result: object = None,
    ) -> None:
        created = list(self.create_instances)
        super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)
        Membership.objects.bulk_create(
            Membership(user=user, organization=self.organization) for user in created
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--organization", required=True)
    args = parser.parse_args()
    organization = Organization.objects.get(slug=args.organization)
    started = time.monotonic()
    with open(args.file, encoding="utf-8") as handle:
        dataset = tablib.Dataset().load(handle.read(), format="csv")
    result = UserResource(organization).import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "rows": len(dataset),
                "new": result.totals.get("new", 0),
                "errors": result.has_errors(),
                "members": Membership.objects.filter(organization=organization).count(),
            }
        )
    )


if __name__ == "__main__":
    main()
