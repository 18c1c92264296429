"""Staff downloads of original files and export results: each one is written to an audit log before it is served."""

from __future__ import annotations

import ipaddress
from typing import IO

from django.db import transaction

from bulktasks.models import BulkTask, BulkTaskFileDownload
from bulktasks.results import ResultFile, bulk_task_result_open
from bulktasks.services import open_stored_file
from users.models import User


def bulk_task_file_download(
    *, bulk_task: BulkTask, downloaded_by: User, ip_address: str
) -> IO[bytes]:
    """Open a task's original file for a staff member and record the download.

    The file is opened first, so that a file no longer stored is not recorded
    as downloaded; a download that could not be recorded is not served.
    """
    stored = open_stored_file(bulk_task)
    try:
        bulk_task_file_download_record(
            bulk_task=bulk_task, downloaded_by=downloaded_by, ip_address=ip_address
        )
    except BaseException:
        stored.close()
        raise
    return stored


def bulk_task_result_download(
    *, bulk_task: BulkTask, downloaded_by: User, ip_address: str
) -> ResultFile:
    """Open an export's result for a staff member and record the download, as an original file's.

    The log names the result's file name, so it tells an export from an upload.
    Raises the API's error (ServiceError) when the task has no result to give.
    """
    result = bulk_task_result_open(
        bulk_task=bulk_task, organization_slug=bulk_task.organization.slug
    )
    try:
        bulk_task_file_download_record(
            bulk_task=bulk_task,
            downloaded_by=downloaded_by,
            ip_address=ip_address,
            file_name=result.name,
        )
    except BaseException:
        result.stream.close()
        raise
    return result


@transaction.atomic
def bulk_task_file_download_record(
    *, bulk_task: BulkTask, downloaded_by: User, ip_address: str, file_name: str | None = None
) -> BulkTaskFileDownload:
    """Write who downloaded which task's file (or its ``file_name``, e.g. its errors.csv), when, and from where."""
    return BulkTaskFileDownload.objects.create(
        bulk_task=bulk_task,
        task_reference=bulk_task.pk,
        file_original_name=(file_name or bulk_task.file_original_name)[:256],
        downloaded_by=downloaded_by,
        downloaded_by_email=downloaded_by.email,
        ip_address=_ip_address_or_none(ip_address),
    )


def _ip_address_or_none(value: str) -> str | None:
    """The address if it is one: a proxy's X-Forwarded-For entry may hold anything."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
