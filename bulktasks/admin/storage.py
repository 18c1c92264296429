"""Where files are stored: the storage providers staff configure."""

from __future__ import annotations

from django.contrib import admin

from bulktasks.models import StorageProvider


@admin.register(StorageProvider)
class StorageProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "bucket", "region", "id"]
    readonly_fields = ["id", "created_at"]
