"""Private redis-server processes for tests that must stop, restart or reconfigure a server.

Never touch the shared server on 6379 for that: :class:`PrivateRedis` runs its own
``redis-server`` on a spare port (no persistence), and stops it itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from bench import processes
from tests.servers import free_port, port_open

REDIS_SERVER = shutil.which("redis-server") or "redis-server"


class PrivateRedis:
    """One redis-server on a spare port; ``start()``/``stop()`` may be called repeatedly."""

    def __init__(self, extra: Sequence[str] = (), port: int | None = None) -> None:
        self.port = port or free_port()
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None
        self.directory = tempfile.mkdtemp(prefix="private-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait: float = 10.0) -> None:
        command = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.directory,
            *self.extra,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + wait
        while not port_open(self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"private redis-server on port {self.port} did not start: {command}")
            time.sleep(0.05)

    def stop(self) -> None:
        processes.stop(self.process)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def private_redis(extra: Sequence[str] = ()) -> Iterator[PrivateRedis]:
    server = PrivateRedis(extra)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@contextmanager
def private_sentinel(master_port: int, service: str = "mymaster") -> Iterator[int]:
    """A redis-server in Sentinel mode watching the master on ``master_port``; yields its port."""
    port = free_port()
    directory = tempfile.mkdtemp(prefix="private-sentinel-")
    config = os.path.join(directory, "sentinel.conf")
    with open(config, "w") as handle:
        handle.write(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 5000\n"
        )
    process = subprocess.Popen(
        [REDIS_SERVER, config, "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port, timeout=0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"private sentinel on port {port} did not start")
            time.sleep(0.05)
        yield port
    finally:
        processes.stop(process)
        shutil.rmtree(directory, ignore_errors=True)
