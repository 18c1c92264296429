from django.apps import AppConfig


class BulkTasksConfig(AppConfig):
    name = "bulktasks"
    verbose_name = "Bulk tasks"

    def ready(self) -> None:
        from bulktasks.actions.registry import actions_load

        actions_load()
