"""The error catalog: every code the API answers with, its HTTP status and its message.

Codes are stable: clients branch on them, so a code is never reused for another
meaning. The families follow the published contract (3xxx for entities, 4xxx
for authentication and authorization); the others extend them in the same
spirit. docs/errors.md documents the same table for API consumers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One catalog entry: a stable numeric code, its HTTP status and default message."""

    code: int
    status: int
    message: str


# 1xxx: the request itself is not acceptable.
INVALID_PARAMETER = ErrorSpec(1001, 400, "Invalid parameter")
VALIDATION_FAILED = ErrorSpec(1002, 400, "Validation failed")
MALFORMED_REQUEST = ErrorSpec(1003, 400, "Malformed request body")
UNSUPPORTED_MEDIA_TYPE = ErrorSpec(1004, 415, "Unsupported media type")
NOT_ACCEPTABLE = ErrorSpec(1005, 406, "Not acceptable")
PAYLOAD_TOO_LARGE = ErrorSpec(1006, 413, "Payload too large")
THROTTLED = ErrorSpec(1007, 429, "Too many requests")
UNKNOWN_ACTION = ErrorSpec(1008, 400, "Unknown action")
UNSUPPORTED_FILE_TYPE = ErrorSpec(1009, 415, "Unsupported file type")
LENGTH_REQUIRED = ErrorSpec(1010, 411, "Length required")
UNSUPPORTED_WORKBOOK = ErrorSpec(1011, 415, "Unsupported workbook")
UNREADABLE_WORKBOOK = ErrorSpec(1012, 400, "Unreadable workbook")
INVALID_COLUMN_MAPPING = ErrorSpec(1013, 400, "Invalid column mapping")
EXPORT_TOO_LARGE = ErrorSpec(1014, 400, "Export too large for its format")
WEBHOOK_URL_NOT_HTTPS = ErrorSpec(1020, 400, "Webhook URL must use https")
WEBHOOK_URL_NOT_ALLOWED = ErrorSpec(1021, 400, "Webhook URL not allowed")
UNKNOWN_WEBHOOK_EVENT = ErrorSpec(1022, 400, "Unknown webhook event")

# 3xxx: entities and routes.
ENTITY_NOT_FOUND = ErrorSpec(3001, 404, "Entity not found")
ROUTE_NOT_FOUND = ErrorSpec(3002, 404, "Route not found")
METHOD_NOT_ALLOWED = ErrorSpec(3003, 405, "Method not allowed")
IDEMPOTENCY_KEY_REUSED = ErrorSpec(3004, 409, "Idempotency-Key reused with other parameters")
BULK_TASK_FINISHED = ErrorSpec(3005, 409, "Bulk task already finished")
FILE_EXPIRED = ErrorSpec(3006, 410, "File expired")
RESULT_NOT_READY = ErrorSpec(3007, 409, "Result not ready")
RESULT_NOT_PRODUCED = ErrorSpec(3008, 409, "Bulk task failed: it has no result")
NO_RESULT_FILE = ErrorSpec(3009, 409, "Bulk task has no result file")
WEBHOOK_ENDPOINT_EXISTS = ErrorSpec(3010, 409, "Webhook endpoint already registered")
WEBHOOK_ENDPOINTS_LIMIT = ErrorSpec(3011, 409, "Too many webhook endpoints")
NO_ERRORS_FILE = ErrorSpec(3012, 409, "Bulk task has no errors file")

# 4xxx: authentication and authorization.
INVALID_CREDENTIALS = ErrorSpec(4001, 401, "Invalid credentials")
NO_AUTH_TOKEN = ErrorSpec(4002, 401, "No auth token")
PERMISSION_DENIED = ErrorSpec(4003, 403, "Permission denied")
INVALID_TOKEN = ErrorSpec(4004, 401, "Invalid Token")

# 5xxx: the service could not answer.
INTERNAL_ERROR = ErrorSpec(5000, 500, "Internal server error")
SERVICE_UNAVAILABLE = ErrorSpec(5003, 503, "Service temporarily unavailable")

CATALOG: tuple[ErrorSpec, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, ErrorSpec)
)
