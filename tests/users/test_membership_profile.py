"""A membership's own profile and its approval: the migration that fills it, and the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from tests.factories import MembershipFactory, UserFactory
from users.forms import MembershipForm
from users.models import Membership

CHANGELIST_URL = "/admin/users/membership/"


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_membership_the_profile_its_account_had() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("users", "0002_drop_redundant_indexes")])
    old = executor.loader.project_state([("users", "0002_drop_redundant_indexes")]).apps
    user = old.get_model("users", "User").objects.create(
        email="ann@example.com", first_name="Ann", last_name="Lee", picture="https://x.example/a"
    )
    Organization = old.get_model("users", "Organization")
    for slug in ("one", "two"):
        old.get_model("users", "Membership").objects.create(
            user=user, organization=Organization.objects.create(slug=slug, name=slug)
        )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    profiles = set(
        Membership.objects.values_list("first_name", "last_name", "picture", "pending_approval")
    )
    assert profiles == {("Ann", "Lee", "https://x.example/a", False)}


@pytest.mark.django_db
def test_a_superuser_approves_a_membership_an_import_held_back(staff_client: Client) -> None:
    pending = MembershipFactory(is_active=False, pending_approval=True)

    response = staff_client.post(
        CHANGELIST_URL, {"action": "approve", "_selected_action": [pending.pk]}
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.is_active, pending.pending_approval) == (True, False)


@pytest.mark.django_db
def test_staff_who_are_not_superusers_cannot_approve(client: Client) -> None:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_membership", "change_membership", "delete_membership"]
        )
    )
    client.force_login(staff)
    pending = MembershipFactory(is_active=False, pending_approval=True)

    listed = client.get(CHANGELIST_URL)
    client.post(CHANGELIST_URL, {"action": "approve", "_selected_action": [pending.pk]})

    assert listed.status_code == 200
    choices = [name for name, _ in listed.context["action_form"].fields["action"].choices]
    assert "approve" not in choices
    pending.refresh_from_db()
    assert (pending.is_active, pending.pending_approval) == (False, True)


@pytest.mark.django_db
def test_the_membership_form_cannot_switch_on_a_pending_membership() -> None:
    pending = MembershipFactory(is_active=False, pending_approval=True)
    data = {"user": pending.user_id, "organization": pending.organization_id, "is_active": "on"}

    form = MembershipForm(data=data, instance=pending)

    assert not form.is_valid()
    assert "is_active" in form.errors
