"""Standard Webhooks signatures: ``whsec_`` secrets and the ``webhook-*`` headers.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the
signature is ``v1,`` and the base64 of its HMAC-SHA256, keyed with the
base64-decoded part of the secret after ``whsec_``
(https://www.standardwebhooks.com, "Signature scheme").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# The specification asks for 24 to 64 random bytes; 32 match HMAC-SHA256's output size.
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


def secret_generate() -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    # The id and timestamp never hold a "." (an ObjectId, an integer), so the
    # signed content cannot be read two ways.
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
