"""The test servers (Redis, PostgreSQL, RabbitMQ on 127.0.0.1): reach them, start them if down;
the programs the tests drive (Chromium): install them if missing.

``require(name)`` returns when the server answers on its port. If it does not, it runs the
documented start command once and waits; if the server still does not answer, it fails the
test loudly (``pytest.fail``): backend tests never skip, in CI or anywhere else.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

_SERVERS = {
    "redis": (
        6379,
        "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
    ),
    "postgres": (
        5432,
        "sh -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'",
    ),
    "rabbitmq": (5672, "rabbitmq-server -detached"),
}
_ready: set[str] = set()


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, wait: float = 60.0) -> None:
    """Make sure the named test server answers; start it if needed; fail loudly otherwise."""
    if name in _ready:
        return
    port, command = _SERVERS[name]
    if not port_open(port):
        try:
            subprocess.run(shlex.split(command), check=False, timeout=wait, capture_output=True)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.fail(f"{name} is down on 127.0.0.1:{port} and `{command}` failed: {error}")
        deadline = time.monotonic() + wait
        while not port_open(port):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{name} does not answer on 127.0.0.1:{port}, even after `{command}`; "
                    "backend tests never skip"
                )
            time.sleep(0.2)
    _ready.add(name)


def free_port() -> int:
    """A TCP port nobody listens on right now (for private servers a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_program(path: str, apt_package: str, wait: float = 600.0) -> str:
    """Make sure a program the tests drive (Debian's ``chromium``) is installed.

    Like a server that is down, a missing program is installed once with ``apt-get`` when this
    machine allows it (root, Debian); otherwise the test fails loudly, naming the package.
    """
    found = shutil.which(path)
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        pytest.fail(f"{path} is missing: install Debian's {apt_package!r} (apt-get install -y ...)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update", "-qq"], [apt_get, "install", "-y", "-qq", apt_package]):
        try:
            subprocess.run(command, check=True, timeout=wait, capture_output=True, env=environment)
        except (OSError, subprocess.SubprocessError) as error:
            pytest.fail(f"{path} is missing and `{' '.join(command)}` failed: {error}")
    found = shutil.which(path)
    if not found:
        pytest.fail(f"{path} is still missing after installing Debian's {apt_package!r}")
    return found
