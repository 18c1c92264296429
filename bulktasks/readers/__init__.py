"""Reading uploaded files record by record: one module per format, and the steps they share.

``lines`` cuts a byte stream into physical lines; ``headers`` matches a header's
names to an action's columns; ``csv`` and ``jsonl`` read each format; ``xlsx``
reads a workbook's first sheet and ``rows`` the copy of it that chunks read;
``reader`` picks the format from the file's detected type.
"""

from bulktasks.readers.csv import csv_header_cells
from bulktasks.readers.reader import RecordReader, read_records
from bulktasks.readers.records import (
    DEFAULT_MAX_LINE_LENGTH,
    ByteStream,
    FileFormatError,
    Position,
    Record,
)

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "ByteStream",
    "FileFormatError",
    "Position",
    "Record",
    "RecordReader",
    "csv_header_cells",
    "read_records",
]
