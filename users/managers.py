"""The user manager: accounts are identified by e-mail, not by a username."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import BaseUserManager

if TYPE_CHECKING:
    from users.models import User

    _Base = BaseUserManager[User]
else:
    # BaseUserManager takes no type argument at run time.
    _Base = BaseUserManager


class UserManager(_Base):
    """Creates users keyed by a normalized, lower-case e-mail address."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """Lower-case the whole address so that one person cannot hold two accounts."""
        return (email or "").strip().lower()

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> Any:
        """Create an active user; without a password the account cannot log in."""
        if not email:
            raise ValueError("A user needs an e-mail address")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> Any:
        """Create a staff superuser for the Django admin."""
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)
