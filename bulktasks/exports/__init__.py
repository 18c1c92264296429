"""Export files: the formats a result is written in, a part per chunk, joined once at the end.

See docs/processing.md ("How an export runs").
"""

from bulktasks.exports.formats import (
    DEFAULT_FORMAT,
    FORMATS,
    ROLES_SEPARATOR,
    ExportFormat,
    TooManyRows,
    part_write,
    result_write,
    rows_limit,
    too_many_rows_message,
)

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "ROLES_SEPARATOR",
    "ExportFormat",
    "TooManyRows",
    "part_write",
    "result_write",
    "rows_limit",
    "too_many_rows_message",
]
