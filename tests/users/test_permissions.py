"""Roles, memberships and the permission catalog, seen through the API and the services."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.conftest import bearer
from tests.factories import BulkTaskFactory, MembershipFactory, OrganizationFactory, RoleFactory
from users import catalog
from users.permissions import BulkTaskPermission, OrganizationPermission
from users.services import (
    membership_create,
    membership_deactivate,
    membership_set_roles,
    organization_create,
    role_create,
)

pytestmark = pytest.mark.django_db


def task_url(task) -> str:
    return f"/v1/organizations/{task.organization.slug}/bulk-tasks/{task.id}"


def test_get_maps_to_the_contract_permission():
    assert BulkTaskPermission.method_permissions["GET"] == "base.bulk.management.get"
    assert BulkTaskPermission.method_permissions["HEAD"] == "base.bulk.management.get"


def test_every_mapped_permission_is_in_the_catalog():
    for permission_class in [BulkTaskPermission, *OrganizationPermission.__subclasses__()]:
        for permission in permission_class.method_permissions.values():
            assert permission in catalog.PERMISSIONS


def test_a_role_cannot_hold_a_string_outside_the_catalog():
    organization = OrganizationFactory()

    with pytest.raises(ValidationError, match=r"base\.bulk\.management\.delete"):
        role_create(
            organization=organization,
            name="too much",
            permissions=[catalog.BULK_TASK_GET, "base.bulk.management.delete"],
        )


def test_the_role_model_validates_permissions_on_full_clean():
    role = RoleFactory.build(organization=OrganizationFactory(), permissions=["made.up"])

    with pytest.raises(ValidationError):
        role.full_clean()


def test_a_membership_cannot_take_a_role_of_another_organization():
    acme, globex = OrganizationFactory(), OrganizationFactory()
    membership = MembershipFactory(organization=acme)
    globex_role = RoleFactory(organization=globex, permissions=[catalog.BULK_TASK_GET])

    with pytest.raises(ValidationError):
        membership_set_roles(membership=membership, roles=[globex_role])

    assert list(membership.roles.all()) == []


def test_granting_the_permission_takes_effect_at_once(api_client, organization):
    task = BulkTaskFactory(organization=organization)
    role = RoleFactory(organization=organization, permissions=[])
    member = MembershipFactory(organization=organization, roles=[role]).user
    headers = {"HTTP_AUTHORIZATION": bearer(member)}
    assert api_client.get(task_url(task), **headers).status_code == 403

    role.permissions = [catalog.BULK_TASK_GET]
    role.save()

    assert api_client.get(task_url(task), **headers).status_code == 200


def test_revoking_the_permission_takes_effect_at_once(api_client, organization, reader):
    task = BulkTaskFactory(organization=organization)
    headers = {"HTTP_AUTHORIZATION": bearer(reader)}
    assert api_client.get(task_url(task), **headers).status_code == 200

    reader.memberships.get().roles.clear()

    assert api_client.get(task_url(task), **headers).status_code == 403


def test_deleting_the_role_takes_effect_on_the_next_request(api_client, organization, reader):
    task = BulkTaskFactory(organization=organization)
    headers = {"HTTP_AUTHORIZATION": bearer(reader)}
    assert api_client.get(task_url(task), **headers).status_code == 200

    reader.memberships.get().roles.get().delete()

    response = api_client.get(task_url(task), **headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == 4003


def test_removing_one_of_two_roles_keeps_only_what_the_other_grants(api_client, organization):
    task = BulkTaskFactory(organization=organization)
    getter = RoleFactory(organization=organization, permissions=[catalog.BULK_TASK_GET])
    lister = RoleFactory(organization=organization, permissions=[catalog.BULK_TASK_LIST])
    membership = MembershipFactory(organization=organization, roles=[getter, lister])
    headers = {"HTTP_AUTHORIZATION": bearer(membership.user)}
    assert api_client.get(task_url(task), **headers).status_code == 200

    membership.roles.remove(getter)

    assert api_client.get(task_url(task), **headers).status_code == 403
    listed = api_client.get(f"/v1/organizations/{organization.slug}/bulk-tasks", **headers)
    assert listed.status_code == 200


def test_deactivating_a_membership_removes_access(api_client, organization, reader):
    task = BulkTaskFactory(organization=organization)
    headers = {"HTTP_AUTHORIZATION": bearer(reader)}
    assert api_client.get(task_url(task), **headers).status_code == 200

    membership_deactivate(membership=reader.memberships.get())

    response = api_client.get(task_url(task), **headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 3001


def test_membership_create_sets_the_roles():
    organization = organization_create(slug="initech", name="Initech")
    role = role_create(
        organization=organization, name="reader", permissions=[catalog.BULK_TASK_GET]
    )
    member = MembershipFactory.build().user
    member.save()

    membership = membership_create(user=member, organization=organization, roles=[role])

    assert list(membership.roles.all()) == [role]


@pytest.mark.parametrize(
    "slug", ["ab", "with space", "under_score", "a" * 24, "0123456789abcdef01234567"]
)
def test_an_organization_slug_must_match_the_pattern_and_not_look_like_an_id(slug):
    with pytest.raises(ValidationError):
        organization_create(slug=slug, name="Bad")


def test_slugs_are_unique_regardless_of_case():
    organization_create(slug="Acme", name="Acme")

    with pytest.raises(ValidationError):
        organization_create(slug="acme", name="Another Acme")


def test_a_role_of_another_organization_grants_nothing_even_if_attached(api_client, organization):
    """Defence in depth: the access selector ignores roles that belong elsewhere."""
    task = BulkTaskFactory(organization=organization)
    foreign_role = RoleFactory(
        organization=OrganizationFactory(), permissions=[catalog.BULK_TASK_GET]
    )
    membership = MembershipFactory(organization=organization)
    membership.roles.add(foreign_role)  # bypasses membership_set_roles on purpose

    response = api_client.get(task_url(task), HTTP_AUTHORIZATION=bearer(membership.user))

    assert response.status_code == 403
