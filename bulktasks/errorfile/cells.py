"""The errors file's own columns.

Kept apart from the rest of the package so that the readers can use them when an
errors file comes back as an upload, without importing the errors file's writer.
The formula neutralization its cells go through is ``core.spreadsheets``, shared
with exports.
"""

from __future__ import annotations

ERROR_LINE_COLUMN = "errorLine"
ERROR_REASON_COLUMN = "errorReason"
# Appended to the original header; an upload whose header holds them is an
# errors file coming back: the import ignores their cells (bulktasks.readers.headers).
ERROR_FILE_COLUMNS = (ERROR_LINE_COLUMN, ERROR_REASON_COLUMN)
