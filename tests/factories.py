"""factory_boy factories for every model the tests arrange."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from bulktasks.models import BulkTask, BulkTaskLine, StorageProvider
from users.models import Membership, Organization, Role, User
from webhooks.models import WebhookEndpoint
from webhooks.signing import secret_generate

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@factory.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    picture = factory.LazyAttribute(lambda user: f"https://img.example.com/{user.email}.png")
    password = factory.django.Password(DEFAULT_PASSWORD)


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Faker("company")


class RoleFactory(DjangoModelFactory):
    class Meta:
        model = Role

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"role-{n}")
    permissions: list[str] = []


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    is_active = True

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs: object) -> None:
        if create and extracted:
            self.roles.set(extracted)


class StorageProviderFactory(DjangoModelFactory):
    class Meta:
        model = StorageProvider
        django_get_or_create = ["name"]

    name = "local"
    kind = StorageProvider.Kind.FILESYSTEM


class BulkTaskFactory(DjangoModelFactory):
    class Meta:
        model = BulkTask

    organization = factory.SubFactory(OrganizationFactory)
    created_by = factory.SubFactory(UserFactory)
    action = "users.import"
    status = BulkTask.Status.PENDING
    file_original_name = "people.csv"
    file_mimetype = "text/csv"
    file_size = 1234
    file_checksum = "0" * 64
    storage_provider = factory.SubFactory(StorageProviderFactory)


class BulkTaskLineFactory(DjangoModelFactory):
    class Meta:
        model = BulkTaskLine

    task = factory.SubFactory(BulkTaskFactory)
    kind = BulkTaskLine.Kind.ERRORED
    line = factory.Sequence(lambda n: n + 2)
    reason = "email: required"


class WebhookEndpointFactory(DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = factory.Sequence(lambda n: f"http://127.0.0.1:9/hooks/{n}")
    events = factory.LazyFunction(lambda: ["bulkTask.completed", "bulkTask.failed"])
    secret = factory.LazyFunction(secret_generate)
