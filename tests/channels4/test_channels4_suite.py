"""Runs the Channels 4 tests (tests/channels4/inner) in their own interpreter, on every backend.

Every backend of this project whose module is in the tree takes part, through the same adapter
and the same tests; the servers they need are started if down (backend tests never skip).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from channels_core.loading import BACKENDS
from tests import servers

from .conftest import SETTINGS_MODULE

ROOT = Path(__file__).resolve().parents[2]


def backends_under_test() -> dict[str, str]:
    """Short name -> URL of every backend in the tree (and its test server's URL)."""
    urls = {}
    for name, (path, _extra) in BACKENDS.items():
        if importlib.util.find_spec(path.partition(":")[0]) is None:
            continue  # not in this tree (yet)
        if name == "inmemory":
            urls[name] = "inmemory"
            continue
        url = getattr(servers, f"{name.upper()}_URL", None)
        if url is None:
            pytest.fail(
                f"tests/servers.py gives no URL for the {name} backend ({name.upper()}_URL)"
            )
        servers.require(name)
        urls[name] = url
    return urls


@pytest.mark.timeout(300)
def test_channels4_consumers_on_every_backend() -> None:
    layers = backends_under_test()
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
