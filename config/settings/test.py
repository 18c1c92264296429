"""Settings for the test suite: fast password hashing, files in a temporary folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-key-only-used-by-the-test-suite-0123456789abcdef"  # noqa: S105
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Worker processes started by the tests inherit these through the environment,
# so that they see the same files and the same queue as the test process.
MEDIA_ROOT = Path(
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bulktasks-test-media-"))
)
_broker_folder = os.environ.setdefault(
    "CELERY_BROKER_FOLDER", tempfile.mkdtemp(prefix="bulktasks-test-broker-")
)
if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(Path(_broker_folder))  # noqa: F405
# One test database per run: Django drops a test database of the same name
# before creating its own, so two runs sharing one (two checkouts, or CI beside
# a developer on one PostgreSQL) would pull it from under each other. The
# worker processes a run starts are told its name (tests/workers.py).
_run = os.getpid()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so that a real worker process can open the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_run}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_run}"}  # noqa: F405
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Rate-limit counters in memory whatever REDIS_URL says: the suite clears the
# cache between tests, and must never flush a developer's Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The tests run webhook receivers on the loopback interface, over plain http.
WEBHOOK_ALLOW_HTTP_LOOPBACK = True
