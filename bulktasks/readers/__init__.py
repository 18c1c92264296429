"""Reading uploaded files record by record: one module per format, and the steps they share.

``lines`` cuts a byte stream into physical lines; ``headers`` matches a header's
names to an action's columns; ``csv`` and ``jsonl`` read each format; ``reader``
picks the format from the file's detected type.
"""

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
    "read_records",
]
