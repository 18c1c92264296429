"""The lookup of known people costs a chunk's worth of index probes, however big the tables."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from bulktasks.actions.users_import import _people_known, _people_known_query
from core.bulk import db_datetime, rows_insert
from core.ids import object_id
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def test_the_lookup_finds_accounts_and_this_organizations_memberships_only():
    organization = OrganizationFactory()
    member = MembershipFactory(organization=organization, first_name="Here").user
    elsewhere = MembershipFactory(first_name="There").user
    staff = UserFactory(is_superuser=True)

    known = _people_known(
        emails=[member.email, elsewhere.email, staff.email, "nobody@example.com"],
        organization_id=organization.pk,
    )

    assert set(known) == {member.email, elsewhere.email, staff.email}
    account, membership = known[member.email]
    assert (account.pk, account.privileged) == (member.pk, False)
    assert membership is not None
    assert (membership.first_name, membership.deactivated) == ("Here", False)
    assert known[elsewhere.email][1] is None
    assert known[staff.email][0].privileged is True


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plan is PostgreSQL's; SQLite has no other"
)
def test_the_lookup_probes_the_email_index_instead_of_scanning_a_large_users_table():
    # With fresh statistics of a table many times the chunk, a join on the
    # unnested addresses was planned as a hash of the whole users table.
    now = db_datetime(timezone.now())
    rows_insert(
        User,
        ("id", "password", "email", "is_superuser", "is_staff", "is_active", "date_joined",
         "updated_at", "first_name", "last_name", "picture"),
        [(object_id(), "!", f"p{n}@example.com", False, False, True, now, now, "", "", "")
         for n in range(20_000)],
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE users_user")
        cursor.execute("ANALYZE users_membership")
    emails = [f"p{n}@example.com" for n in range(0, 20_000, 20)] + ["new@example.com"]
    sql, params = _people_known_query(emails, OrganizationFactory().pk)

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using user_email_unique" in plan, plan
    assert "Seq Scan on users_user" not in plan, plan
    assert "Hash" not in plan, plan
