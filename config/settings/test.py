"""Settings for the test suite: fast password hashing, files in a temporary folder."""

from __future__ import annotations

import tempfile

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-key-only-used-by-the-test-suite-0123456789abcdef"  # noqa: S105
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="bulktasks-test-media-")
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
