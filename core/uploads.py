"""The default upload handler: no request writes a file anywhere unless its view asks for it."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class RefuseFilesUploadHandler(FileUploadHandler):
    """Stop parsing a multipart body at its first file part, before a byte of it is stored.

    Django parses a multipart body for whoever reads ``request.POST`` first,
    and that can be middleware: the CSRF check reads it on any POST carrying a
    CSRF cookie, the admin's login page included, before anyone is
    authenticated. With a file-writing handler as the default, anyone could
    make the server write a 100 MB temporary file. The views that take an
    upload install their own handler first (``bulktasks.uploads``).

    The parse stops as if the client had gone (``connection_reset``): the
    fields before the file are kept, the file and the rest are never read.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        """Never called: ``new_file`` stopped the parse."""
        return None

    def file_complete(self, file_size: int) -> UploadedFile | None:
        """Never called: ``new_file`` stopped the parse."""
        return None
