"""Instances built from hand-written SQL are the ones the ORM would have loaded."""

from __future__ import annotations

import pytest
from django.db import connection

from bulktasks.models import BulkTask
from bulktasks.selectors import bulk_task_get
from core.rows import RowReader
from tests.factories import BulkTaskFactory, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def read(reader: RowReader, pk: str):
    with connection.cursor() as cursor:
        sql = f"SELECT {reader.columns} FROM {reader.table} WHERE {reader.column('id')} = %s"  # noqa: S608
        cursor.execute(sql, [pk])
        return reader.instance(cursor.fetchone())


def test_every_field_matches_the_orm(organization):
    task = BulkTaskFactory(organization=organization, status=BulkTask.Status.COMPLETED)
    loaded = read(RowReader(BulkTask, "t"), task.pk)
    expected = BulkTask.objects.get(pk=task.pk)

    for field in BulkTask._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded._state.adding is False
    assert loaded.get_deferred_fields() == set()


def test_only_some_fields_leaves_the_others_deferred_and_loadable(django_assert_num_queries):
    user = UserFactory(first_name="Ada")
    loaded = read(RowReader(User, "u", only=("email", "first_name")), user.pk)

    assert loaded.first_name == "Ada"
    assert {"password", "last_login", "date_joined"} <= loaded.get_deferred_fields()
    expected = User.objects.get(pk=user.pk).date_joined
    with django_assert_num_queries(1):
        assert loaded.date_joined == expected


def test_a_task_comes_with_its_creator_in_one_query(organization, django_assert_num_queries):
    creator = UserFactory(first_name="Grace")
    task = BulkTaskFactory(organization=organization, created_by=creator)

    with django_assert_num_queries(1):
        loaded = bulk_task_get(organization=organization, bulk_task_id=task.pk.upper())
        assert loaded.created_by.first_name == "Grace"
    assert loaded.created_by.pk == creator.pk


def test_a_task_without_a_creator_has_none(organization):
    task = BulkTaskFactory(organization=organization, created_by=None)

    assert bulk_task_get(organization=organization, bulk_task_id=task.pk).created_by is None


def test_a_model_with_init_signal_receivers_still_gets_them(organization):
    from django.db.models.signals import post_init

    task = BulkTaskFactory(organization=organization)
    seen: list[str] = []

    def receiver(sender, instance, **kwargs) -> None:
        seen.append(instance.pk)

    post_init.connect(receiver, sender=BulkTask)
    try:
        loaded = read(RowReader(BulkTask, "t", only=("status",)), task.pk)
    finally:
        post_init.disconnect(receiver, sender=BulkTask)

    assert seen == [task.pk]
    assert loaded.status == task.status
    assert "action" in loaded.get_deferred_fields()
