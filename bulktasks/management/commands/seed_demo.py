"""``manage.py seed_demo``: demo organizations, members and tasks, with ready-to-paste commands."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework_simplejwt.tokens import AccessToken

from bulktasks import demo


class Command(BaseCommand):
    help = "Create demo data (idempotent) and print curl commands, or one JSON object with --json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even with DEBUG off; the demo accounts have published passwords.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError(
                "Refusing to seed demo accounts with DEBUG off: their passwords are public. "
                "Pass --allow-production if you really mean it."
            )
        data = demo.demo_seed()
        tokens = {
            "reader": str(AccessToken.for_user(data.reader)),
            "noPermission": str(AccessToken.for_user(data.no_permission)),
            "outsider": str(AccessToken.for_user(data.outsider)),
        }
        if options["json"]:
            self.stdout.write(json.dumps(self._as_json(data, tokens)))
            return
        self._print_walkthrough(data, tokens, options["base_url"])

    @staticmethod
    def _as_json(data: demo.DemoData, tokens: dict[str, str]) -> dict[str, Any]:
        assert data.other_bulk_task is not None
        return {
            "organization": {"id": data.organization.pk, "slug": data.organization.slug},
            "otherOrganization": {
                "id": data.other_organization.pk,
                "slug": data.other_organization.slug,
            },
            "tokens": tokens,
            "bulkTasks": [{"id": task.pk, "status": task.status} for task in data.bulk_tasks],
            "otherBulkTaskId": data.other_bulk_task.pk,
            "admin": {"email": demo.ADMIN_EMAIL, "password": demo.ADMIN_PASSWORD},
        }

    def _print_walkthrough(self, data: demo.DemoData, tokens: dict[str, str], base: str) -> None:
        slug = data.organization.slug
        completed = demo.COMPLETED_TASK_ID
        lines = [
            self.style.SUCCESS("Demo data is ready."),
            "",
            f"Admin:   {base}/admin/  ({demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD})",
            f"Members: {demo.READER_EMAIL}, {demo.NO_PERMISSION_EMAIL}, {demo.OUTSIDER_EMAIL} "
            f"(password {demo.DEMO_PASSWORD})",
            "",
            "# Log in (tokens below are already minted for you):",
            f"curl -s -X POST {base}/v1/auth/token -H 'Content-Type: application/json' "
            f'-d \'{{"email": "{demo.READER_EMAIL}", "password": "{demo.DEMO_PASSWORD}"}}\'',
            "",
            f"export READER_TOKEN={tokens['reader']}",
            f"export NO_PERMISSION_TOKEN={tokens['noPermission']}",
            f"export OUTSIDER_TOKEN={tokens['outsider']}",
            "",
            "# A completed task with skipped and errored lines (200):",
            f'curl -s {base}/v1/organizations/{slug}/bulk-tasks/{completed} -H "Authorization: Bearer $READER_TOKEN"',
            "# The same task by organization id (200):",
            f'curl -s {base}/v1/organizations/{data.organization.pk}/bulk-tasks/{completed} -H "Authorization: Bearer $READER_TOKEN"',
            "# A member without base.bulk.management.get (403):",
            f'curl -s {base}/v1/organizations/{slug}/bulk-tasks/{completed} -H "Authorization: Bearer $NO_PERMISSION_TOKEN"',
            "# Another organization's member (404):",
            f'curl -s {base}/v1/organizations/{slug}/bulk-tasks/{completed} -H "Authorization: Bearer $OUTSIDER_TOKEN"',
            "# No token (401):",
            f"curl -s {base}/v1/organizations/{slug}/bulk-tasks/{completed}",
        ]
        self.stdout.write("\n".join(lines))
