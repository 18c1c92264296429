"""Settings shared by every environment; each value can be set from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url

from config.env import env_bool, env_int, env_list, env_rate, env_str
from core.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "core",
    "users",
    "bulktasks",
    "webhooks",
]

MIDDLEWARE = [
    # First, so that every answer carries X-Request-ID and gets an access log line.
    "core.middleware.RequestIdMiddleware",
    # Second: every answer, errors included, goes out after the request body is read.
    "core.middleware.DrainRequestBodyMiddleware",
    # Every API answer, errors included, is kept out of caches (docs/api.md).
    "core.middleware.NoStoreMiddleware",
    "core.middleware.RefuseNulBytesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# One URL picks the engine: a SQLite file needs no set-up, PostgreSQL is for
# production and CI (postgres://user@host:5432/name).
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        # A health check is one more round trip on every request. Without it, a
        # request on a connection the database dropped answers a retriable 503
        # and the connection is replaced for the next one.
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", default=False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding lets psycopg prepare a statement that runs often, so
    # PostgreSQL stops parsing and planning the queries every request makes.
    # Turn it off behind a pooler that cannot keep prepared statements.
    _server_side_binding = env_bool("DB_SERVER_SIDE_BINDING", default=True)
    _database_options = DATABASES["default"].setdefault("OPTIONS", {})
    _database_options["server_side_binding"] = _server_side_binding
    if _server_side_binding:
        # Django leaves psycopg's prepared statements off unless told: without
        # this, every statement was planned anew, and planning the GET's one
        # statement cost ten times running it. psycopg prepares a statement on
        # its fifth run on a connection.
        _database_options.setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue instead of failing mid-transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer at all must cost a request seconds,
    # and the client a 503, not the gunicorn worker its life at the 30 s timeout.
    # A connect_timeout in DATABASE_URL's query string wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- API --------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON everywhere; only the upload (POST /bulk-tasks) takes multipart.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.exception_handler.api_exception_handler",
    # No metadata: DRF's answer to OPTIONS (view names and docstrings) is outside
    # the envelope and tells clients nothing the schema does not. OPTIONS is then
    # a 405 (3003) in the envelope, like any method a view does not serve.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": None,
    # RFC 3339 in UTC with a literal Z, as the contract shows it.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "COMPACT_JSON": True,
    "STRICT_JSON": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("JWT_ACCESS_TOKEN_LIFETIME", 15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env_int("JWT_REFRESH_TOKEN_LIFETIME", 7 * 24 * 3600)
    ),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

# The token endpoints take a small JSON body; anything declaring more is refused
# (413) before a byte of it is read, since anybody may call them.
AUTH_MAX_BODY_SIZE = env_int("AUTH_MAX_BODY_SIZE", 4 * 1024)

# --- Rate limits and token revocation -------------------------------------------
# The cache holds the rate-limit counters. Redis (CACHE_URL, or REDIS_URL) lets
# every web process share them; without one each process counts in its own
# memory, which needs nothing installed but multiplies the limits by the number
# of processes.
CACHE_URL = env_str("CACHE_URL") or env_str("REDIS_URL")
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
if CACHE_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        # A slow or lost Redis must not hold requests: the limits are then skipped.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
# <scope>.<counted by>: "<requests>/<second|minute|hour|day>"; an empty value
# turns that limit off. See docs/configuration.md.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "reads.user": env_rate("THROTTLE_READS_USER", "600/min"),
    "reads.organization": env_rate("THROTTLE_READS_ORGANIZATION", "3000/min"),
    "uploads.user": env_rate("THROTTLE_UPLOADS_USER", "100/hour"),
    "uploads.organization": env_rate("THROTTLE_UPLOADS_ORGANIZATION", "500/hour"),
    "token.ip": env_rate("THROTTLE_TOKEN_IP", "120/min"),
    # Failed logins only (a wrong password, or no such account); see docs/api.md.
    "login_failures.email_ip": env_rate("THROTTLE_LOGIN_FAILURES_EMAIL_IP", "10/15min"),
    "login_failures.email": env_rate("THROTTLE_LOGIN_FAILURES_EMAIL", "100/hour"),
}
# Proxies in front of the service that append to X-Forwarded-For; 0 trusts only
# the connecting address, so a client cannot pick its own.
REST_FRAMEWORK["NUM_PROXIES"] = env_int("NUM_PROXIES", 0)
# A refresh token is good for one refresh: it is revoked as it is exchanged
# for a new pair, and POST /v1/auth/logout revokes it on demand.
INSTALLED_APPS += ["rest_framework_simplejwt.token_blacklist"]
SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] = True
SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] = True

# --- OpenAPI schema and docs (/v1/schema/, /v1/docs/) --------------------------
# drf-spectacular describes the API from its views and serializers; core/openapi.py
# adds the envelope, the error catalog and the path parameters. Swagger UI's
# files come from the sidecar package through staticfiles: the docs need no CDN.
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "core.openapi.ApiAutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Bulk Tasks Service API",
    "VERSION": "1.0.0",
    # Who runs this deployment and under which terms; the URLs are the operator's.
    "CONTACT": {
        "name": env_str("API_CONTACT_NAME") or "Bulk Tasks Service maintainers",
        **({"url": env_str("API_CONTACT_URL")} if env_str("API_CONTACT_URL") else {}),
    },
    "LICENSE": {
        "name": env_str("API_LICENSE_NAME") or "Proprietary",
        **({"url": env_str("API_LICENSE_URL")} if env_str("API_LICENSE_URL") else {}),
    },
    # Relative: the schema describes the server that serves it. API_PUBLIC_URL
    # names another (e.g. https://api.example.com behind a proxy that rewrites paths).
    "SERVERS": [{"url": env_str("API_PUBLIC_URL") or "/", "description": "This server"}],
    "TAGS": [
        {"name": "Authentication", "description": "Log in, refresh and revoke bearer tokens."},
        {
            "name": "Bulk tasks",
            "description": "Upload a file to start a task; list tasks; read a task and its report.",
        },
        {
            "name": "Webhooks",
            "description": "Register endpoints that are sent a signed event when a task ends.",
        },
    ],
    "SCHEMA_PATH_PREFIX": "/v1",
    "CAMELIZE_NAMES": True,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "PREPROCESSING_HOOKS": ["core.openapi.preprocess_api_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.postprocess_describe_api",
    ],
    "ENUM_NAME_OVERRIDES": {
        "BulkTaskStatusEnum": "bulktasks.models.BulkTask.Status",
        "ReportLineKindEnum": ["errored", "skipped"],
        "WebhookEndpointStatusEnum": "webhooks.models.WebhookEndpoint.Status",
        "WebhookEventTypeEnum": ["bulkTask.completed", "bulkTask.failed"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Bulk tasks -----------------------------------------------------------------
# Modules that register actions (see docs/actions.md).
BULK_TASK_ACTIONS = env_list(
    "BULK_TASK_ACTIONS",
    [
        "bulktasks.actions.users_import",
        "bulktasks.actions.users_deactivate",
        "bulktasks.actions.users_export",
    ],
)
# Inline report lines in GET /bulk-tasks/{id} stop at this many lines of each
# kind; the counters always give the true totals.
BULK_TASK_INLINE_LINES_LIMIT = env_int("BULK_TASK_INLINE_LINES_LIMIT", 1000)
BULK_TASK_MAX_FILE_SIZE = env_int("BULK_TASK_MAX_FILE_SIZE", 100 * 1024 * 1024)
# An .xlsx is a ZIP archive: before anything unpacks it, its directory must
# promise no more than this many bytes once uncompressed, in all its parts
# together, and no part over 1 MiB may be more than this many times smaller
# packed than unpacked (a zip bomb's ratio runs into the thousands; a sheet's
# XML packs 5 to 30 times). See docs/processing.md.
BULK_TASK_XLSX_MAX_UNCOMPRESSED_SIZE = env_int(
    "BULK_TASK_XLSX_MAX_UNCOMPRESSED_SIZE", 1024 * 1024 * 1024
)
BULK_TASK_XLSX_MAX_COMPRESSION_RATIO = env_int("BULK_TASK_XLSX_MAX_COMPRESSION_RATIO", 200)
# Records per chunk: the unit a worker applies in one transaction, and the unit
# of fairness between organizations (see docs/processing.md). 5,000 is about a
# third of a second of work: small enough that another organization waits little
# behind it, large enough that claims, dispatch and messages cost a few percent.
BULK_TASK_CHUNK_SIZE = env_int("BULK_TASK_CHUNK_SIZE", 5000)
# Chunks of one organization queued or running at once, whatever its backlog.
BULK_TASK_ORGANIZATION_CONCURRENCY = env_int("BULK_TASK_ORGANIZATION_CONCURRENCY", 2)
# A worker holds a scan or a chunk for this long and renews the hold as it goes;
# one whose hold has run out belongs to a dead worker and is taken over.
BULK_TASK_LEASE_SECONDS = env_int("BULK_TASK_LEASE_SECONDS", 60)
# Takeovers from dead workers a scan or a chunk gets before its task fails.
BULK_TASK_MAX_ATTEMPTS = env_int("BULK_TASK_MAX_ATTEMPTS", 5)
# A pending task or queued chunk older than this was never picked up (its message was lost).
BULK_TASK_PENDING_GRACE_SECONDS = env_int("BULK_TASK_PENDING_GRACE_SECONDS", 60)
BULK_TASK_IDEMPOTENCY_TTL_SECONDS = env_int("BULK_TASK_IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
BULK_TASK_SWEEP_SECONDS = env_int("BULK_TASK_SWEEP_SECONDS", 30)
# A finished task's stored files (the upload, and anything else in its folder)
# are deleted this many days after it finished; the task and its report stay.
# 0 keeps them forever.
BULK_TASK_FILE_RETENTION_DAYS = env_int("BULK_TASK_FILE_RETENTION_DAYS", 30)

# --- Webhooks (docs/webhooks.md) ----------------------------------------------------
# Plain http, and addresses on the loopback interface, for a receiver on this
# machine: the local and test settings turn it on; it is never read from the
# environment, so production always requires https to public addresses.
WEBHOOK_ALLOW_HTTP_LOOPBACK = False
# When set, a webhook URL's host must be one of these names, or end with one
# written with a leading dot (".hooks.example.com"); checked before any DNS lookup.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
# Networks refused besides the built-in ones (loopback, private, link-local,
# multicast, reserved, CGNAT, cloud metadata), e.g. a public range of your own.
WEBHOOK_DENIED_NETWORKS = env_list("WEBHOOK_DENIED_NETWORKS", [])
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_int("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5)
# The whole attempt once connected: TLS, sending, and the receiver's answer.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 15)
# A receiver's answer is read up to this many bytes, then the connection is closed.
WEBHOOK_MAX_RESPONSE_BYTES = env_int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024)
# Retries: 5 s, then 4 times longer each time (less up to 20 % of jitter), at
# most WEBHOOK_RETRY_MAX_DELAY_SECONDS apart, until an attempt fails at least
# WEBHOOK_RETRY_WINDOW_SECONDS after the first one; then the endpoint is failing.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 5)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 6 * 3600)
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
# A retry due within this many seconds is sent with a Celery countdown; a later
# one is left to the sweeper, so no message waits hours in the broker.
WEBHOOK_COUNTDOWN_MAX_SECONDS = env_int("WEBHOOK_COUNTDOWN_MAX_SECONDS", 300)
WEBHOOK_SWEEP_SECONDS = env_int("WEBHOOK_SWEEP_SECONDS", 30)
WEBHOOK_MAX_ENDPOINTS = env_int("WEBHOOK_MAX_ENDPOINTS", 10)
# The Celery queue deliveries go to; empty: the default queue, beside bulk tasks.
WEBHOOK_QUEUE = env_str("WEBHOOK_QUEUE")

# Uploaded files go through Django's storage API: S3 (or any S3-compatible
# store) when a bucket is named, the local MEDIA_ROOT otherwise.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
_bulk_task_storage: dict[str, object] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if AWS_STORAGE_BUCKET_NAME:
    _bulk_task_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "default_acl": None,
            "file_overwrite": False,
        },
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "bulktasks": _bulk_task_storage,
}
# No request stores a file unless its view asks: a multipart body is parsed by
# whoever reads request.POST first, the CSRF check on the admin's login page
# included. The two upload views (API and admin) install
# bulktasks.uploads.HashingUploadHandler, which streams the file to disk and
# hashes it on the way, never holding it in memory.
FILE_UPLOAD_HANDLERS = ["core.uploads.RefuseFilesUploadHandler"]
# Only Django's ASGI handler reads this (no handler above keeps files in
# memory): it spools each request body in memory up to this size, then on disk.
# 0 would mean "never roll over", holding a whole body in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
# An upload (API or admin) carries exactly one file; a second file part is a 400
# before it reaches the disk.
DATA_UPLOAD_MAX_NUMBER_FILES = 1

# --- Background work ----------------------------------------------------------
# Production: redis://host:6379/0 or amqp://user:password@host:5672//, so that
# workers on any number of machines share the queue. Without one, a folder
# under var/ is the queue: a worker started next to the server on the same
# machine (make run) picks uploads up, and nothing else needs installing.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"


def filesystem_broker_options(folder: Path) -> dict[str, object]:
    """Transport options for kombu's file-system broker, queued under ``folder``."""
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # Every tenth of a second rather than every second: a chunk takes about
        # that long, and an idle worker must not leave the next one waiting.
        "polling_interval": 0.1,
    }


if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(env_str("CELERY_BROKER_FOLDER", str(VAR_DIR / "broker")))
    )
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it has run, so a worker killed mid-file
# leaves its message to be delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's consumer, but a finished task's ack is sent at once, not after the
# event loop's next wait (up to ten seconds with --pool=solo): core/celery_consumer.py.
CELERY_WORKER_CONSUMER = "core.celery_consumer:Consumer"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request while the broker is down: the sweeper
# enqueues the task again later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BEAT_SCHEDULE = {
    "bulk-tasks-sweep": {
        "task": "bulktasks.tasks.sweep_bulk_tasks",
        "schedule": float(BULK_TASK_SWEEP_SECONDS),
    },
}
# Webhook deliveries due whose message was lost, or retries due later than a countdown.
CELERY_BEAT_SCHEDULE["webhooks-sweep"] = {
    "task": "webhooks.tasks.sweep_webhook_deliveries",
    "schedule": float(WEBHOOK_SWEEP_SECONDS),
}
# Revoked and expired refresh tokens are forgotten once a day.
CELERY_BEAT_SCHEDULE["auth-tokens-flush-expired"] = {
    "task": "users.tasks.flush_expired_tokens",
    "schedule": 24 * 3600.0,
}
# Idempotency-Keys are only honoured for BULK_TASK_IDEMPOTENCY_TTL_SECONDS; the
# expired ones are deleted every hour.
CELERY_BEAT_SCHEDULE["bulk-tasks-idempotency-keys-flush"] = {
    "task": "bulktasks.tasks.flush_expired_idempotency_keys",
    "schedule": 3600.0,
}
# Stored files past BULK_TASK_FILE_RETENTION_DAYS are deleted every hour.
CELERY_BEAT_SCHEDULE["bulk-tasks-files-expire"] = {
    "task": "bulktasks.tasks.expire_bulk_task_files",
    "schedule": 3600.0,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Logs, health probes ---------------------------------------------------------
# One JSON object per line on stderr (LOG_FORMAT=json), or plain text for a
# person reading a terminal (LOG_FORMAT=text, the default of the local settings).
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = logging_config(log_format=env_str("LOG_FORMAT", "json"), level=LOG_LEVEL)
# Seconds /readyz waits for the broker to answer.
HEALTH_CHECK_TIMEOUT = env_int("HEALTH_CHECK_TIMEOUT", 2)
