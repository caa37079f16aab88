"""Interface servers and workers as real processes, for the end-to-end web tests.

Each process runs from the repository root (so ``tests.web.app`` imports), on the layer URL it
is given (``CHANNEL_LAYER_URL``, with the test's own ``prefix``), with its output in a log file
that a failing test prints.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.processes import stop as stop_process
from tests.servers import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: prctl(2) option: the signal the kernel sends a process when its parent dies (Linux).
PR_SET_DEATHSIG = 1


def dies_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child get SIGKILL when the thread that started it (the
    pytest process here) dies, killed or crashed, so no server or worker outlives the tests.
    None off Linux (no ``prctl``)."""
    if sys.platform != "linux":
        return None
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: no dlopen after fork

    def in_child() -> None:  # between fork and exec; the setting survives the exec
        if prctl(PR_SET_DEATHSIG, signal.SIGKILL) != 0:
            os._exit(127)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


#: Processes started and not stopped yet (a failing test's report shows their logs).
live: list[Process] = []


class Process:
    """A child process with its output in a temporary log file; it dies with this process."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"web-{name}-", suffix=".log", delete=False)
        self.popen = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dies_with_this_process(),
        )
        live.append(self)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.output()}")

    def stop(self) -> None:
        if self in live:
            live.remove(self)
        stop_process(self.popen)
        self.log.close()
        os.unlink(self.log.name)


def executable(name: str, install_hint: str) -> str:
    """The console script ``name`` of this virtualenv; fails loudly if it is not installed."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: {install_hint}")
    return str(path)


@contextmanager
def running(
    processes: list[Process], port: int | None = None, wait: float = 30.0
) -> Iterator[list[Process]]:
    """Stop ``processes`` on exit; wait first until something listens on ``port``. On a test
    failure, their logs are printed (pytest shows them with the failure)."""
    try:
        if port is not None:
            deadline = time.monotonic() + wait
            while not port_open(port, timeout=0.2):
                for process in processes:
                    process.check_alive()
                if time.monotonic() > deadline:
                    pytest.fail(f"nothing listens on port {port} after {wait:.0f} s")
                time.sleep(0.05)
        yield processes
    except BaseException:
        for process in processes:
            print(f"----- {process.name} -----\n{process.output()}")
        raise
    finally:
        for process in processes:
            process.stop()


def worker(layer_url: str, routing: str, threads: int = 2) -> Process:
    """``channels-core runworker`` for ``routing`` on ``layer_url``."""
    argv = [sys.executable, "-m", "channels_core", "runworker", "--layer", layer_url]
    argv += ["--routing", routing, "--threads", str(threads)]
    return Process("worker", argv, {})


def uvicorn_bridge(layer_url: str, port: int) -> Process:
    """uvicorn serving the bridge (``channels_core.bridge:application``) on ``layer_url``."""
    argv = [
        executable("uvicorn", "pip install -e '.[web]'"),
        "channels_core.bridge:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Process("uvicorn", argv, {"CHANNEL_LAYER_URL": layer_url})


def daphne1(layer_url: str, port: int) -> Process:
    """daphne 1.4.2 itself, on ``channels_core.asgi:channel_layer``."""
    argv = [
        executable(
            "daphne",
            "daphne 1.4.2 is installed by the README's test command "
            "(pip install --no-deps daphne==1.4.2)",
        ),
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "-v",
        "1",
        "channels_core.asgi:channel_layer",
    ]
    return Process("daphne", argv, {"CHANNEL_LAYER_URL": layer_url})


def new_port() -> int:
    return free_port()
