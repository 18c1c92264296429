"""Admin pages for accounts, organizations, roles and memberships."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from users.forms import AdminUserChangeForm, AdminUserCreationForm, MembershipForm, RoleForm
from users.models import Membership, Organization, Role, User


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
    list_display = ["user", "organization", "is_active", "created_at"]
    list_filter = ["is_active", "organization"]
    search_fields = ["user__email", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    filter_horizontal = ["roles"]
