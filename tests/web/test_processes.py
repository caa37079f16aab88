"""The web tests' child processes: none outlives a pytest that is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.web.processes import ROOT

#: Starts a long sleeper through the test helpers, prints its pid, then waits to be killed.
PARENT = """
import sys, time
from tests.web.processes import Process
child = Process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], {})
print(child.popen.pid, flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan waiting for init to reap it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.timeout(30)
def test_a_child_dies_when_the_process_that_started_it_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), f"the child {child} outlived its killed parent"
    finally:
        parent.kill()
        parent.wait(10)
