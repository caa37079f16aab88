"""Runs the Channels 4 tests (tests/channels4/inner) in their own interpreter, on every backend.

Every backend of this project whose module is in the tree takes part, through the same adapter
and the same tests; the servers they need are started if down (backend tests never skip).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from channels_core.registry import registry

from .conftest import SETTINGS_MODULE

ROOT = Path(__file__).resolve().parents[2]
#: URL options keeping these tests' server-side state apart from other users of the shared
#: servers (PostgreSQL: a schema of their own, so another checkout's schema version never mixes).
PRIVATE = {"postgres": "?schema=channels4_tests"}


def backends_under_test(request: pytest.FixtureRequest) -> dict[str, str]:
    """Short name -> URL of every registered backend: its ``<name>_url`` test fixture (which
    makes sure the server answers), or its registered spec for an in-process backend."""
    urls = {}
    for backend in registry():
        if backend.url is None:
            urls[backend.name] = backend.spec
            continue
        try:
            url = request.getfixturevalue(f"{backend.name}_url")
        except pytest.FixtureLookupError:
            pytest.fail(f"tests/conftest.py has no {backend.name}_url fixture for its server")
        urls[backend.name] = str(url) + PRIVATE.get(backend.name, "")
    return urls


@pytest.mark.timeout(300)
def test_channels4_consumers_on_every_backend(request: pytest.FixtureRequest) -> None:
    layers = backends_under_test(request)
    assert {"inmemory", "redis", "postgres"} <= set(layers), layers
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "CHANNELS4_TEST_LAYERS": json.dumps(layers),
    }
    for name in list(env):
        if name == "CHANNELS_SETTINGS_MODULE" or name.startswith("CHANNEL_LAYER_URL"):
            del env[name]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/channels4/inner", "-v", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, (
        f"the Channels 4 tests failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    for name in layers:  # every backend ran the same tests, and none was skipped
        assert f"[{name}] PASSED" in result.stdout, f"no test ran on {name}:\n{result.stdout}"
    assert "SKIPPED" not in result.stdout, result.stdout
