from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        """Connect the signal receivers; register the bearer scheme with the OpenAPI generator."""
        from users import openapi, signals  # noqa: F401
