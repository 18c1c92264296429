from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Accounts and organizations"

    def ready(self) -> None:
        # Registers the bearer scheme with the OpenAPI generator.
        from users import openapi  # noqa: F401
