"""Django settings of the Django-integration tests (only ever loaded in their own interpreter)."""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "channels-core-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["example.com", ".allowed.org", "[::1]"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels_core.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tests.django.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # One file per test process: worker threads need to share it (":memory:" is per thread).
        "NAME": os.environ.get("CHANNELS_DJANGO_TEST_DB")
        or os.path.join(tempfile.gettempdir(), f"channels-core-django-{os.getpid()}.sqlite3"),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
USE_TZ = True
LOGGING_CONFIG = None

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "inmemory",
        "CONFIG": {"blocking_timeout": 0.2},
        "ROUTING": "tests.django.routing.channel_routing",
    }
}
