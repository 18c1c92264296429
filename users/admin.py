"""Admin pages for accounts, organizations, roles and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from users.forms import AdminUserChangeForm, AdminUserCreationForm, MembershipForm, RoleForm
from users.models import Membership, Organization, Role, User
from users.services import membership_approve_pending


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["id", "email", "first_name", "last_name"]
    ordering = ["email"]
    readonly_fields = ["id", "date_joined", "updated_at", "last_login"]
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "picture")}),
        (
            "Access",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    # What makes an account powerful in the admin: only a superuser grants or takes it.
    privilege_fields = ["is_staff", "is_superuser", "groups", "user_permissions"]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        """Privileges are read-only for staff who are not superusers, on their own account too.

        Otherwise ``change_user`` would let a staff member make themselves, or
        anyone, a superuser. The add form has only the e-mail and the password,
        so an account created by such staff starts with no privilege at all.
        """
        readonly = list(super().get_readonly_fields(request, obj))
        if _is_superuser(request):
            return readonly
        return readonly + [field for field in self.privilege_fields if field not in readonly]

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        """Staff who are not superusers cannot change another staff or superuser account.

        Setting its password or e-mail would let them log in as it, and hold
        its privileges; such an account stays visible to them, read-only.
        """
        allowed = super().has_change_permission(request, obj)
        return allowed and not _is_privileged_of_another(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        """Staff who are not superusers cannot delete another staff or superuser account."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and not _is_privileged_of_another(request, obj)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Groups carry admin permissions: only superusers create, change or delete them.

    A staff member allowed to change a group they belong to could otherwise add
    any permission to it, and so to themselves.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return _is_superuser(request)


def _is_superuser(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def _is_privileged_of_another(request: HttpRequest, obj: User | None) -> bool:
    """Whether ``obj`` is someone else's staff or superuser account, and the requester no superuser."""
    if obj is None or _is_superuser(request) or obj.pk == request.user.pk:
        return False
    return obj.is_staff or obj.is_superuser


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    extra = 0
    autocomplete_fields = ["user"]
    filter_horizontal = ["roles"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "id", "created_at"]
    search_fields = ["id", "slug", "name"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    form = RoleForm
    list_display = ["name", "organization", "permission_list"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__slug"]
    list_select_related = ["organization"]

    def get_readonly_fields(self, request: HttpRequest, obj: Role | None = None) -> list[str]:
        # Moving a role to another organization would hand its permissions to
        # the members of the first one in the second.
        return ["organization"] if obj is not None else []

    @admin.display(description="Permissions")
    def permission_list(self, role: Role) -> str:
        return ", ".join(role.permissions)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = [
        "user", "organization", "first_name", "last_name", "is_active", "pending_approval",
        "created_at",
    ]  # fmt: skip
    list_filter = ["is_active", "pending_approval", "organization"]
    search_fields = ["user__email", "first_name", "last_name", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    filter_horizontal = ["roles"]
    readonly_fields = ["pending_approval"]
    actions = ["approve"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Letting a staff account into an organization is a superuser's decision.
        if not request.user.is_superuser:
            actions.pop("approve", None)
        return actions

    @admin.action(description="Approve the selected memberships awaiting approval")
    def approve(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        approved = membership_approve_pending(memberships=queryset)
        self.message_user(request, f"{approved} membership(s) approved.")
