"""Stopping the servers and workers that the benchmark (and the tests) start."""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """End ``process``: SIGTERM, then SIGKILL if it is still running after ``grace`` seconds.
    Returns once it has exited (or at once if it already had, or is None)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)
