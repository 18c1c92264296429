"""Signal receivers of the users app."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_save
from django.dispatch import receiver
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken


@receiver(pre_save, sender=OutstandingToken)
def outstanding_token_forget_text(
    sender: type[OutstandingToken], instance: OutstandingToken, **kwargs: Any
) -> None:
    """Keep a refresh token's id and expiry only, never the token itself.

    simplejwt stores the whole signed token, which would make every row a
    working credential for anyone who can read the table or a backup of it;
    revocation needs only the ``jti``.
    """
    instance.token = ""
