"""Django settings of the Channels 4 tests: one channel-layer alias per backend under test.

``CHANNELS4_TEST_LAYERS`` (JSON, set by ``test_channels4_suite.py``) maps a backend's short name
to its URL; each alias names our adapter, ``channels_core.channels4.ChannelLayer``, exactly as a
Channels 4 project's settings would, under a prefix no other test run uses.
"""

from __future__ import annotations

import json
import os
import uuid

SECRET_KEY = "channels4-tests"
INSTALLED_APPS = ["channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True

_PREFIX = f"ch4-{uuid.uuid4().hex[:10]}"
LAYER_URLS: dict[str, str] = json.loads(
    os.environ.get("CHANNELS4_TEST_LAYERS", '{"inmemory": "inmemory"}')
)
CHANNEL_LAYERS = {
    name: {
        "BACKEND": "channels_core.channels4.ChannelLayer",
        "CONFIG": {"url": url, "prefix": f"{_PREFIX}-{name}", "blocking_timeout": 1},
    }
    for name, url in LAYER_URLS.items()
}
