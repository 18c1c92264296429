"""errors.csv: the task's errored lines, in line order, with their original cells, streamed.

One forward walk of the stored file, merged with the errored line numbers read
from the report a page at a time in line order (the ``bulktaskline_kind_line``
index): memory holds one page of lines and one record, whatever the number of
errored lines, and reading stops at the last errored line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import PurePosixPath

from bulktasks.errorfile.cells import ERROR_FILE_COLUMNS
from bulktasks.errorfile.originals import (
    OriginalRows,
    action_columns,
    original_rows,
    original_rows_key,
)
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing.files import stored_file_range
from bulktasks.storage import storage_is_unavailable
from core.exceptions import FileExpired, NoErrorsFile, ServiceUnavailable
from core.spreadsheets import cell_neutralized

# Errored lines read from the report per query.
LINES_PAGE = 2000
# Bytes of CSV gathered before they are handed to the server.
FLUSH_BYTES = 64 * 1024
# Excel reads a CSV as UTF-8 only when it starts with a byte order mark; the
# import skips it when the file comes back.
BOM = "\ufeff"


class _Dialect(csv.Dialect):
    """RFC 4180, with every cell quoted as OWASP advises for files bound for spreadsheets."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    lineterminator = "\r\n"
    quoting = csv.QUOTE_ALL


class ErrorsCsv:
    """An open errors file: iterate it for the CSV's bytes; ``close`` releases the stored file.

    The stored file is opened and its header read when this is made, so that a
    file that is gone or a storage that is away is answered before the first
    byte of the CSV is sent.
    """

    def __init__(self, bulk_task: BulkTask) -> None:
        if bulk_task.is_export:
            # Not 410: nothing expired, there never was an upload to report on.
            raise NoErrorsFile(
                "Bulk task has no errors file: an export reads no file, so it has no "
                "errored lines; download its result from .../result"
            )
        if bulk_task.file_expired_at is not None or not bulk_task.file_key:
            raise FileExpired("The task's file has expired and is no longer stored")
        self.bulk_task = bulk_task
        self._resources = ExitStack()
        try:
            key = original_rows_key(bulk_task)
            if key is None:
                self.original = OriginalRows(header=action_columns(bulk_task), rows=iter(()))
            else:
                stream = self._resources.enter_context(stored_file_range(key))
                self.original = original_rows(stream, bulk_task)
                self._resources.callback(_close, self.original.rows)
        except FileNotFoundError as exc:
            self._resources.close()
            raise FileExpired("The task's file is no longer stored") from exc
        except Exception as exc:
            self._resources.close()
            if storage_is_unavailable(exc):
                raise ServiceUnavailable("File storage is temporarily unavailable") from exc
            raise

    @property
    def filename(self) -> str:
        """``<uploaded name without its extension>-errors.csv``."""
        stem = PurePosixPath(self.bulk_task.file_original_name or "upload").stem or "upload"
        return f"{stem}-errors.csv"

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from _csv_bytes(self.bulk_task, self.original)
        finally:
            self.close()

    def close(self) -> None:
        """Release the stored file (called by the response once it is sent, or abandoned)."""
        self._resources.close()


def bulk_task_errors_csv(*, bulk_task: BulkTask) -> ErrorsCsv:
    """The task's errors file, opened; 410 (FileExpired) once its stored file has gone.

    An export has none: 409 (NoErrorsFile).
    """
    return ErrorsCsv(bulk_task)


def errored_lines(*, bulk_task: BulkTask, page: int = LINES_PAGE) -> Iterator[tuple[int, str]]:
    """The task's errored lines and reasons in line order, read ``page`` at a time by keyset."""
    after = 0
    while True:
        batch = list(
            BulkTaskLine.objects.filter(
                task_id=bulk_task.pk, kind=BulkTaskLine.Kind.ERRORED, line__gt=after
            )
            .order_by("line")
            .values_list("line", "reason")[:page]
        )
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1][0]


def _csv_bytes(bulk_task: BulkTask, original: OriginalRows) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, _Dialect)
    # An errors file uploaded again has the two columns already: the new ones
    # replace them, so that the next errors file can be uploaded again too.
    kept = _kept_columns(bulk_task, original.header)
    header = [original.header[index] for index in kept]
    width = len(header)
    buffer.write(BOM)
    writer.writerow(_neutralized([*header, *ERROR_FILE_COLUMNS]))
    rows = original.rows
    current = next(rows, None)
    for line, reason in errored_lines(bulk_task=bulk_task):
        while current is not None and current[0] < line:
            current = next(rows, None)
        cells = current[1] if current is not None and current[0] == line else None
        cells = cells or []
        if len(kept) != len(original.header):
            extra = cells[len(original.header) :]
            cells = [cells[index] for index in kept if index < len(cells)] + extra
        # The two columns stay under their header: a short row is padded, and the
        # cells of a row longer than the header come after them, none lost.
        padded = cells[:width] + [""] * (width - len(cells))
        writer.writerow(_neutralized([*padded, str(line), reason, *cells[width:]]))
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8", "replace")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8", "replace")


def _kept_columns(bulk_task: BulkTask, header: list[str]) -> list[int]:
    """The positions of the header's columns, but an earlier errors file's two (the import ignores them)."""
    own = {name.casefold() for name in action_columns(bulk_task)}
    ignored = {name.casefold() for name in ERROR_FILE_COLUMNS} - own
    return [index for index, name in enumerate(header) if name.strip().casefold() not in ignored]


def _neutralized(cells: list[str]) -> list[str]:
    return [cell_neutralized(cell) for cell in cells]


def _close(rows: Iterator[object]) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()
