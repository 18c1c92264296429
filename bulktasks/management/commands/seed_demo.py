"""``manage.py seed_demo``: demo organizations, members and tasks, with ready-to-paste commands."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from bulktasks import demo
from bulktasks.walkthrough import walkthrough_text


class Command(BaseCommand):
    help = (
        "Create demo data (idempotent) and print the README's walk-through with fresh tokens, "
        "or one JSON object with --json."
    )

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
        try:
            data = demo.demo_seed()
        except demo.DemoConflict as exc:
            raise CommandError(str(exc)) from exc
        tokens = {
            "reader": str(AccessToken.for_user(data.reader)),
            "noPermission": str(AccessToken.for_user(data.no_permission)),
            "outsider": str(AccessToken.for_user(data.outsider)),
        }
        if options["json"]:
            self.stdout.write(json.dumps(self._as_json(data, tokens)))
            return
        self._print_walkthrough(data, options["base_url"])

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

    def _print_walkthrough(self, data: demo.DemoData, base: str) -> None:
        # The README's walk-through shows these same commands (tests/test_readme.py).
        refresh = RefreshToken.for_user(data.reader)
        header = [
            self.style.SUCCESS("Demo data is ready."),
            "",
            f"Admin:   {base}/admin/  ({demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD})",
            f"Members: {demo.READER_EMAIL}, {demo.NO_PERMISSION_EMAIL}, {demo.OUTSIDER_EMAIL} "
            f"(password {demo.DEMO_PASSWORD})",
            "",
            "The README's walk-through, with fresh tokens for the reader filled in:",
            "",
        ]
        commands = walkthrough_text(
            base=base, access=str(refresh.access_token), refresh=str(refresh)
        )
        self.stdout.write("\n".join(header) + "\n" + commands)
