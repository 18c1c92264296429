"""Accounts, organizations and the memberships that join them."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.ids import ObjectIdField
from users.managers import UserManager
from users.validators import slug_validator, validate_permission_list, validate_slug_not_object_id

FULL_NAME_MAX_LENGTH = 128


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an e-mail address."""

    id = ObjectIdField(primary_key=True)
    # Stored lower-cased (see save), so one plain unique index serves both
    # uniqueness and lookups, including the bulk import's.
    email = models.EmailField(max_length=256)
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    picture = models.URLField(max_length=2048, blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Inactive users cannot log in, and their tokens stop working."
    )
    is_staff = models.BooleanField(default=False, help_text="May log in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(fields=["email"], name="user_email_unique")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One spelling per address, whichever form or command created the account.
        self.email = UserManager.normalize_email(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        """First and last name joined, cut to the contract's 128 characters."""
        return f"{self.first_name} {self.last_name}".strip()[:FULL_NAME_MAX_LENGTH]

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Organization(models.Model):
    """A tenant: every bulk task belongs to exactly one organization."""

    id = ObjectIdField(primary_key=True)
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[slug_validator, validate_slug_not_object_id],
        help_text="Used in URLs in place of the id: letters, digits and hyphens.",
    )
    name = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(Lower("slug"), name="organization_slug_ci_unique")]

    def __str__(self) -> str:
        return self.slug


class Role(models.Model):
    """A named set of permission strings, defined by one organization."""

    id = ObjectIdField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=128)
    permissions = models.JSONField(default=list, blank=True, validators=[validate_permission_list])

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="role_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.name}"


class Membership(models.Model):
    """A user's place in an organization; only an active membership grants access."""

    id = ObjectIdField(primary_key=True)
    # No index of its own: membership_unique (user, organization) leads with it.
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="memberships")
    is_active = models.BooleanField(default=True)
    # Held back from a staff or superuser account that an import named: it grants
    # nothing (is_active stays off) until a superuser approves it, yet the
    # organization's imports treat it as a member, so their reports never tell
    # a staff e-mail from any other.
    pending_approval = models.BooleanField(
        default=False,
        help_text="Created by an import for a staff or superuser account; "
        "grants no access until a superuser approves it.",
    )
    # The organization's own profile of its member, as its imports set it. The
    # account's profile (User) is the person's own and is shared by every
    # organization they belong to, so no organization's import writes it.
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    picture = models.URLField(max_length=2048, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The import that last touched this membership, and on which line: a second
    # line for the same person in the same file is then reported as a duplicate,
    # even after a resume, without keeping every e-mail of the file in memory.
    last_import_task_id = models.CharField(max_length=24, blank=True, editable=False)
    last_import_line = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]
        indexes = [
            # An export walks an organization's active members in id order, a
            # range of ids at a time (keyset pagination): one range scan each.
            models.Index(
                fields=["organization", "id"],
                name="membership_org_active",
                condition=models.Q(is_active=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"

    @property
    def full_name(self) -> str:
        """First and last name as this organization knows them, cut like the account's."""
        return f"{self.first_name} {self.last_name}".strip()[:FULL_NAME_MAX_LENGTH]
