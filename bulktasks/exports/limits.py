"""What a result format holds: an export that cannot fit in it is refused before it starts."""

from __future__ import annotations

from bulktasks.actions import ExportAction
from bulktasks.exports.formats import FORMATS, rows_limit, too_many_rows_message
from core.exceptions import ExportTooLarge


def export_rows_check(*, action: ExportAction, organization_id: str, result_format: str) -> None:
    """Raise ExportTooLarge (400, 1014) when the format cannot hold the export's rows now.

    An XLSX result is one sheet (an import reads no other), so an organization
    with more members than a sheet has rows gets a clear refusal instead of a
    file that imports short. Members who join once the task is created are
    checked again by the worker, which fails the task rather than cut it.
    """
    limit = rows_limit(FORMATS[result_format])
    if limit is None:
        return
    rows = action.count(organization_id=organization_id, at_most=limit + 1)
    if rows > limit:
        raise ExportTooLarge(too_many_rows_message(result_format, limit))
