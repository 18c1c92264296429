"""Admin forms: roles pick permissions from the catalog, memberships pick roles of their organization."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from users.catalog import PERMISSIONS
from users.models import Membership, Role, User


class RoleForm(forms.ModelForm):
    """A role's permissions as checkboxes, so only catalog strings can be chosen."""

    permissions = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {label}") for name, label in PERMISSIONS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Role
        fields = ["organization", "name", "permissions"]

    def clean_permissions(self) -> list[str]:
        return sorted(self.cleaned_data["permissions"])


class MembershipForm(forms.ModelForm):
    """Refuses roles that belong to another organization, and a pending membership switched on."""

    picture = forms.URLField(max_length=2048, required=False, assume_scheme="https")

    class Meta:
        model = Membership
        fields = [
            "user",
            "organization",
            "roles",
            "is_active",
            "first_name",
            "last_name",
            "picture",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pending_approval and cleaned.get("is_active"):
            # Only the superuser-only "approve" action lets a staff account in.
            self.add_error(
                "is_active",
                "This membership awaits a superuser's approval: use the approve action",
            )
        organization = cleaned.get("organization")
        roles = cleaned.get("roles") or []
        foreign = [
            role.name for role in roles if organization and role.organization_id != organization.pk
        ]
        if foreign:
            self.add_error(
                "roles", f"These roles belong to another organization: {', '.join(foreign)}"
            )
        return cleaned


class AdminUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


class AdminUserChangeForm(UserChangeForm):
    picture = forms.URLField(max_length=2048, required=False, assume_scheme="https")

    class Meta:
        model = User
        fields = "__all__"
