"""The exception hierarchy views and services raise, each bound to a catalog entry."""

from __future__ import annotations

from rest_framework.exceptions import APIException

from core import errors
from core.errors import ErrorSpec


class ServiceError(APIException):
    """An error the API reports in its envelope, with a code from the catalog."""

    error: ErrorSpec = errors.INTERNAL_ERROR

    def __init__(self, message: str | None = None, *, error: ErrorSpec | None = None) -> None:
        if error is not None:
            self.error = error
        self.status_code = self.error.status
        super().__init__(detail=message or self.error.message, code=str(self.error.code))

    @property
    def message(self) -> str:
        """The human-readable message sent to the client."""
        return str(self.detail)


class EntityNotFound(ServiceError):
    """The entity does not exist, or the caller may not know that it does."""

    error = errors.ENTITY_NOT_FOUND


class InvalidParameter(ServiceError):
    """A path or query parameter does not have the expected shape."""

    error = errors.INVALID_PARAMETER

    def __init__(self, parameter: str, expected: str) -> None:
        self.parameter = parameter
        super().__init__(f"Invalid parameter {parameter}: {expected}")


class ValidationFailed(ServiceError):
    """The request body or form is not valid; the message names each field."""

    error = errors.VALIDATION_FAILED


class PermissionDenied(ServiceError):
    """The caller is a member of the organization but lacks the permission."""

    error = errors.PERMISSION_DENIED


class NoAuthToken(ServiceError):
    """The request carries no bearer token."""

    error = errors.NO_AUTH_TOKEN


class InvalidToken(ServiceError):
    """The bearer token is malformed, expired, tampered with, or its user is gone."""

    error = errors.INVALID_TOKEN


class InvalidCredentials(ServiceError):
    """The e-mail and password do not match an active account."""

    error = errors.INVALID_CREDENTIALS


class ServiceUnavailable(ServiceError):
    """A backing service (database, broker) did not answer; the client may retry."""

    error = errors.SERVICE_UNAVAILABLE


class PayloadTooLarge(ServiceError):
    """The upload is over the configured size limit."""

    error = errors.PAYLOAD_TOO_LARGE


class LengthRequired(ServiceError):
    """A body came without a Content-Length (chunked), which a WSGI server cannot pass on."""

    error = errors.LENGTH_REQUIRED


class UnknownAction(ServiceError):
    """No registered action has that name."""

    error = errors.UNKNOWN_ACTION


class UnsupportedFileType(ServiceError):
    """The file's content is not CSV, JSON Lines or an .xlsx workbook."""

    error = errors.UNSUPPORTED_FILE_TYPE


class UnsupportedWorkbook(ServiceError):
    """A workbook of a kind never read: password-protected, legacy .xls, or macro-enabled."""

    error = errors.UNSUPPORTED_WORKBOOK


class UnreadableWorkbook(ServiceError):
    """A workbook whose archive is damaged, or would unpack past the limits (a zip bomb)."""

    error = errors.UNREADABLE_WORKBOOK


class InvalidColumnMapping(ServiceError):
    """The ``columns`` field is not a usable mapping from the file's headers to the action's columns."""

    error = errors.INVALID_COLUMN_MAPPING


class ExportTooLarge(ServiceError):
    """An export asked for in a format that cannot hold all its rows (an XLSX sheet's limit)."""

    error = errors.EXPORT_TOO_LARGE


class IdempotencyKeyReused(ServiceError):
    """The same Idempotency-Key came with a different action, option or file."""

    error = errors.IDEMPOTENCY_KEY_REUSED


class BulkTaskFinished(ServiceError):
    """The task completed or failed on its own: there is nothing left to cancel."""

    error = errors.BULK_TASK_FINISHED


class WebhookUrlNotHttps(ServiceError):
    """A webhook URL that is not https where only https is allowed."""

    error = errors.WEBHOOK_URL_NOT_HTTPS


class WebhookUrlNotAllowed(ServiceError):
    """A webhook URL whose host is not allowed, or resolves to an address that is not public."""

    error = errors.WEBHOOK_URL_NOT_ALLOWED


class UnknownWebhookEvent(ServiceError):
    """A webhook subscription names an event type the service does not send."""

    error = errors.UNKNOWN_WEBHOOK_EVENT


class WebhookEndpointExists(ServiceError):
    """The organization already has an endpoint with that URL."""

    error = errors.WEBHOOK_ENDPOINT_EXISTS


class WebhookEndpointsLimit(ServiceError):
    """The organization has as many endpoints as it may have."""

    error = errors.WEBHOOK_ENDPOINTS_LIMIT


class FileExpired(ServiceError):
    """The task's stored file was deleted at the end of its retention period."""

    error = errors.FILE_EXPIRED


class ResultNotReady(ServiceError):
    """An export's result is asked for before its task completed: poll the task, then retry."""

    error = errors.RESULT_NOT_READY


class ResultNotProduced(ServiceError):
    """An export's result is asked for, but the task failed: it has none."""

    error = errors.RESULT_NOT_PRODUCED


class NoResultFile(ServiceError):
    """The task's action produces no file (an import): there is no result to download."""

    error = errors.NO_RESULT_FILE


class NoErrorsFile(ServiceError):
    """The task reads no file (an export): it has no errored lines to download."""

    error = errors.NO_ERRORS_FILE
