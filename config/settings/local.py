"""Settings for a developer's machine (``make run``): debug on, nothing to configure."""

from __future__ import annotations

from config.env import env_bool, env_str
from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY as _SECRET_KEY
from core.logging import logging_config

DEBUG = env_bool("DEBUG", default=True)
# A fixed key is fine here: local tokens and sessions guard nothing of value.
SECRET_KEY = _SECRET_KEY or "local-development-key-not-for-production-use-0123456789"
SIMPLE_JWT["SIGNING_KEY"] = SIMPLE_JWT["SIGNING_KEY"] or SECRET_KEY  # noqa: F405
# Plain text for a person at a terminal; LOG_FORMAT=json to see what production writes.
LOGGING = logging_config(log_format=env_str("LOG_FORMAT", "text"), level=LOG_LEVEL)  # noqa: F405

# Webhooks to a receiver on this machine (http://127.0.0.1:...), for trying them out.
WEBHOOK_ALLOW_HTTP_LOOPBACK = True
