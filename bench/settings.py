"""Production settings plus the floor view, for the API benchmark only."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
