from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        """Listen for tasks reaching a final status."""
        from webhooks import receivers  # noqa: F401
