"""Staff powers over accounts in the admin: only superusers grant or take privileges."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from tests.factories import DEFAULT_PASSWORD, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def change_url(user: User) -> str:
    return reverse("admin:users_user_change", args=[user.pk])


def staff_with(*codenames: str) -> User:
    """A staff member who is not a superuser, holding the given auth permissions."""
    staff = UserFactory(is_staff=True, is_superuser=False)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return staff


def change_form(user: User, **changes: Any) -> dict[str, Any]:
    """The user change form as the admin page posts it, with the given fields changed."""
    form = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "picture": user.picture,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def escalation(group: Group) -> dict[str, Any]:
    """Every privilege field set to the most a form can grant."""
    return {
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [group.pk],
        "user_permissions": list(Permission.objects.values_list("pk", flat=True)),
    }


@pytest.fixture
def admins_group() -> Group:
    group = Group.objects.create(name="Admins")
    group.permissions.set(Permission.objects.all())
    return group


def privileges(user: User) -> tuple[bool, bool, list[str], int]:
    user.refresh_from_db()
    return (
        user.is_staff,
        user.is_superuser,
        list(user.groups.values_list("name", flat=True)),
        user.user_permissions.count(),
    )


def test_staff_with_change_user_cannot_make_themselves_superuser(
    client: Client, admins_group: Group
) -> None:
    staff = staff_with("view_user", "change_user")
    client.force_login(staff)

    response = client.post(
        change_url(staff), change_form(staff, first_name="Mallory", **escalation(admins_group))
    )

    assert response.status_code == 302, response.content
    staff.refresh_from_db()
    assert staff.first_name == "Mallory"  # the form was accepted...
    assert privileges(staff) == (True, False, [], 2)  # ...but granted nothing


def test_staff_with_change_user_cannot_grant_privileges_to_another_account(
    client: Client, admins_group: Group
) -> None:
    client.force_login(staff_with("view_user", "change_user"))
    accomplice = UserFactory()

    response = client.post(
        change_url(accomplice),
        change_form(accomplice, first_name="Eve", **escalation(admins_group)),
    )

    assert response.status_code == 302, response.content
    accomplice.refresh_from_db()
    assert accomplice.first_name == "Eve"
    assert privileges(accomplice) == (False, False, [], 0)


def test_staff_see_privilege_fields_read_only(client: Client) -> None:
    staff = staff_with("view_user", "change_user")
    client.force_login(staff)

    page = client.get(change_url(UserFactory()))

    assert page.status_code == 200
    fields = page.context["adminform"].form.fields
    assert "first_name" in fields
    assert not {"is_staff", "is_superuser", "groups", "user_permissions"} & set(fields)


def test_a_superuser_can_grant_and_take_privileges(
    staff_client: Client, admins_group: Group
) -> None:
    user = UserFactory()

    granted = staff_client.post(change_url(user), change_form(user, **escalation(admins_group)))
    after_grant = privileges(user)
    taken = staff_client.post(change_url(user), change_form(user))

    assert (granted.status_code, taken.status_code) == (302, 302)
    assert after_grant == (True, True, ["Admins"], Permission.objects.count())
    assert privileges(user) == (False, False, [], 0)


def test_staff_cannot_change_a_superuser_account_or_its_password(client: Client) -> None:
    client.force_login(staff_with("view_user", "change_user", "delete_user"))
    superuser = UserFactory(is_staff=True, is_superuser=True, first_name="Root")
    password_url = reverse("admin:auth_user_password_change", args=[superuser.pk])

    page = client.get(change_url(superuser))
    changed = client.post(change_url(superuser), change_form(superuser, first_name="Owned"))
    password = client.post(
        password_url, {"password1": "new-pass-2024!x", "password2": "new-pass-2024!x"}
    )
    deleted = client.post(reverse("admin:users_user_delete", args=[superuser.pk]), {"post": "yes"})

    # Visible read-only, but neither its profile, its password nor the account can be touched.
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert (changed.status_code, password.status_code, deleted.status_code) == (403, 403, 403)
    superuser.refresh_from_db()
    assert superuser.first_name == "Root"
    assert superuser.check_password(DEFAULT_PASSWORD)


def test_staff_cannot_delete_a_superuser_with_the_bulk_delete_action(client: Client) -> None:
    client.force_login(staff_with("view_user", "change_user", "delete_user"))
    superuser = UserFactory(is_staff=True, is_superuser=True)
    customer = UserFactory()

    response = client.post(
        reverse("admin:users_user_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [superuser.pk, customer.pk],
            "post": "yes",
        },
    )

    assert response.status_code == 403
    assert User.objects.filter(pk__in=[superuser.pk, customer.pk]).count() == 2


def test_staff_cannot_change_another_staff_account(client: Client) -> None:
    client.force_login(staff_with("view_user", "change_user"))
    colleague = staff_with("delete_user")

    response = client.post(change_url(colleague), change_form(colleague, first_name="Owned"))

    assert response.status_code == 403
    colleague.refresh_from_db()
    assert colleague.first_name != "Owned"


def test_staff_adding_an_account_cannot_make_it_privileged(client: Client) -> None:
    client.force_login(staff_with("view_user", "add_user", "change_user"))

    response = client.post(
        reverse("admin:users_user_add"),
        {
            "email": "new@example.com",
            "password1": "a-long-pass-2024!",
            "password2": "a-long-pass-2024!",
            "is_staff": "on",
            "is_superuser": "on",
        },
    )

    assert response.status_code == 302, response.content
    assert privileges(User.objects.get(email="new@example.com")) == (False, False, [], 0)


def test_only_superusers_change_groups(client: Client, admins_group: Group) -> None:
    staff = staff_with("view_group", "change_group", "add_group")
    staff.groups.add(admins_group)
    weak = Group.objects.create(name="Support")
    client.force_login(staff)
    url = reverse("admin:auth_group_change", args=[weak.pk])

    page = client.get(url)
    changed = client.post(
        url,
        {"name": "Support", "permissions": list(Permission.objects.values_list("pk", flat=True))},
    )
    added = client.post(reverse("admin:auth_group_add"), {"name": "Mine"})

    assert page.status_code == 200
    assert (changed.status_code, added.status_code) == (403, 403)
    assert weak.permissions.count() == 0
    assert not Group.objects.filter(name="Mine").exists()
