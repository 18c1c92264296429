"""Settings for a developer's machine (``make run``): debug on, nothing to configure."""

from __future__ import annotations

from config.env import env_bool
from config.settings.base import *  # noqa: F403
from config.settings.base import SECRET_KEY as _SECRET_KEY

DEBUG = env_bool("DEBUG", default=True)
# A fixed key is fine here: local tokens and sessions guard nothing of value.
SECRET_KEY = _SECRET_KEY or "local-development-key-not-for-production-use-0123456789"
SIMPLE_JWT["SIGNING_KEY"] = SIMPLE_JWT["SIGNING_KEY"] or SECRET_KEY  # noqa: F405
