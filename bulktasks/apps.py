from django.apps import AppConfig


class BulkTasksConfig(AppConfig):
    name = "bulktasks"
    verbose_name = "Bulk tasks"
