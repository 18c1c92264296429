"""ASGI entry point, for servers such as uvicorn: ``uvicorn config.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

django_application = get_asgi_application()

# Imported once Django is set up: it reads the settings.
from core.asgi import BodyLimitMiddleware  # noqa: E402

# Django's ASGI handler reads a whole body before any view: the limits come first.
application = BodyLimitMiddleware(django_application)
