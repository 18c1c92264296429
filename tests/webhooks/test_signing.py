"""Standard Webhooks signatures: the secret's format and the signature, checked independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.signing import secret_generate, secret_key, signature, signed_headers


def test_a_secret_is_whsec_and_the_base64_of_24_to_64_random_bytes():
    secrets = {secret_generate() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert 24 <= len(key) <= 64


def test_the_signature_is_v1_and_the_base64_hmac_sha256_of_id_timestamp_body():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"bulkTask.completed","data":{"id":"65a000000000000000000003"}}'

    value = signature(secret=secret, message_id="msg_1", timestamp=1674087231, body=body)

    # Recomputed from the specification's words, with nothing of ours.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    expected = hmac.new(key, b"msg_1.1674087231." + body, hashlib.sha256).digest()
    assert value == "v1," + base64.b64encode(expected).decode()


def test_the_reference_implementation_verifies_our_headers():
    secret = secret_generate()
    body = json.dumps({"type": "bulkTask.failed", "data": {"id": "x"}}, separators=(",", ":"))
    now = int(time.time())
    headers = signed_headers(
        secret=secret, message_id="65a0000000000000000000aa", timestamp=now, body=body.encode()
    )

    assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("failed", "completed"), headers)


def test_a_secret_without_its_prefix_is_not_a_key():
    with pytest.raises(ValueError, match="whsec_"):
        secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
