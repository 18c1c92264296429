"""The Celery application; workers and the web process share its configuration."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("bulktasks")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
