from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        """Connect the app's signal receivers."""
        from users import signals  # noqa: F401
