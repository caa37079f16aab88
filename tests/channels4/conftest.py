"""How the Channels 4 tests run: in their own interpreter, with Django configured.

A Channels 4 consumer needs Django settings (``CHANNEL_LAYERS``, and its database connection
handling), and no other test module may ever see Django configured (see tests/django). So the
real tests live in ``tests/channels4/inner/`` and are collected only in a process started with
``DJANGO_SETTINGS_MODULE=tests.channels4.settings``; ``test_channels4_suite.py`` starts it,
once the servers of every backend under test answer. To work on them directly::

    CHANNELS4_TEST_LAYERS='{"inmemory": "inmemory"}' \\
        DJANGO_SETTINGS_MODULE=tests.channels4.settings .venv/bin/pytest tests/channels4/inner
"""

from __future__ import annotations

import os

SETTINGS_MODULE = "tests.channels4.settings"
INNER = os.environ.get("DJANGO_SETTINGS_MODULE") == SETTINGS_MODULE

collect_ignore = ["test_channels4_suite.py"] if INNER else ["inner"]
