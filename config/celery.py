"""The Celery application; workers and the web process share its configuration."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery, Task
from celery.signals import before_task_publish, task_postrun, task_prerun
from kombu.transport import TRANSPORT_ALIASES

from core.logging import request_id_var, task_id_var

# `celery -A config worker` on a server must never come up with the local
# settings (debug on, a signing key anyone can read in the repository): with
# nothing set it gets the production settings, which refuse to start without a
# real SECRET_KEY. `make run` and `make worker` ask for the local ones.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# `filesystem://` (make run, the tests) takes our transport, which writes each
# message whole before a worker can see it (core/filesystem_broker.py).
TRANSPORT_ALIASES["filesystem"] = "core.filesystem_broker:Transport"

app = Celery("bulktasks")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    """The file-system transport expects its folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


# The request id of the upload travels with the message, so that the worker's
# log lines for a task can be found from the request that created it.
REQUEST_ID_HEADER = "request_id"


@before_task_publish.connect
def _send_request_id(headers: dict[str, object] | None = None, **kwargs: object) -> None:
    """Put the current request id, if any, in the message headers."""
    request_id = request_id_var.get()
    if request_id is not None and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _bind_log_context(task_id: str, task: Task, **kwargs: object) -> None:
    """Stamp the task's log records with its id and the request id it was sent with."""
    request = task.request
    request_id = (
        getattr(request, REQUEST_ID_HEADER, None)
        or (request.headers or {}).get(REQUEST_ID_HEADER)
        or request_id_var.get()
    )
    request.log_context_tokens = (request_id_var.set(request_id), task_id_var.set(task_id))


@task_postrun.connect
def _unbind_log_context(task: Task, **kwargs: object) -> None:
    """Forget the task's log context, so the next task starts clean."""
    tokens = getattr(task.request, "log_context_tokens", None)
    if tokens is not None:
        request_token, task_token = tokens
        request_id_var.reset(request_token)
        task_id_var.reset(task_token)
