"""Helpers for the RabbitMQ layer's own tests: a private broker node, child processes, and
looking at the shared broker's queues.

:class:`PrivateRabbitMQ` runs its own ``rabbitmq-server`` node (own node name, AMQP and
distribution ports, data and log directories in a temporary directory, no plugins), so a
test may stop and restart it. Never the shared node on 5672: the other engineers use it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import pika
import pytest

from tests.servers import free_port, port_open

RABBITMQ_SERVER = shutil.which("rabbitmq-server") or "rabbitmq-server"
RABBITMQCTL = shutil.which("rabbitmqctl") or "rabbitmqctl"


class PrivateRabbitMQ:
    """One private RabbitMQ node on spare ports; ``start()``/``stop()`` may repeat (the data
    directory is kept, as after a real restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"ccore-test-{uuid.uuid4().hex[:8]}@localhost"
        self.directory = tempfile.mkdtemp(prefix="private-rabbitmq-")
        # The server drops to the rabbitmq user when started as root: let it write here.
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(self.directory, sub), mode=0o777)
            os.chmod(os.path.join(self.directory, sub), 0o777)
        os.chmod(self.directory, 0o755)
        with open(os.path.join(self.directory, "rabbitmq.conf"), "w") as config:
            config.write(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        with open(os.path.join(self.directory, "enabled_plugins"), "w") as plugins:
            plugins.write("[].\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.directory, "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.directory, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.directory, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.directory, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.directory, "pid"),
        }

    def start(self, wait: float = 90.0) -> None:
        self.process = subprocess.Popen(
            [RABBITMQ_SERVER],
            env=self._environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends exactly it
        )
        deadline = time.monotonic() + wait
        while not port_open(self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"private rabbitmq-server node {self.node} did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node: SIGTERM to its processes, found by the node name in their
        environment (``su`` starts the VM in a session of its own, so signalling the
        process group we started is not enough)."""
        process, self.process = self.process, None
        if process is None:
            return
        for pid in self._node_processes():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        deadline = time.monotonic() + 30
        while port_open(self.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
        if port_open(self.port, timeout=0.2):
            pytest.fail(f"private rabbitmq-server node {self.node} did not stop")

    def _node_processes(self) -> list[int]:
        """The processes of this node (its unique name is in their environment)."""
        marker = f"RABBITMQ_NODENAME={self.node}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
        return found

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _declared(url: str, declare: Callable[[Any], Any]) -> bool:
    """Whether a passive declare succeeds, on a throwaway connection."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declare(connection.channel())
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        connection.close()


def queue_exists(url: str, queue: str) -> bool:
    """Whether the broker has ``queue``."""
    return _declared(url, lambda channel: channel.queue_declare(queue, passive=True))


def exchange_exists(url: str, exchange: str) -> bool:
    """Whether the broker has ``exchange``."""
    return _declared(url, lambda channel: channel.exchange_declare(exchange, passive=True))


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` (which must exist), on a throwaway connection."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        connection.close()


def listed_queues(prefix: str) -> list[str]:
    """The shared broker's queues whose names start with ``prefix:`` (``rabbitmqctl``)."""
    result = subprocess.run(
        [RABBITMQCTL, "list_queues", "-q", "--no-table-headers", "name"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.startswith(prefix + ":")]


# -- child processes (spawned: they import this module) ------------------------------------------


def child_populate(url: str, prefix: str, results: Any) -> None:
    """Declare queues and groups of ``prefix`` from another process, then report their names."""
    from layers.rabbitmq import RabbitMQChannelLayer

    try:
        layer = RabbitMQChannelLayer(url, prefix=prefix)
        single = layer.new_channel("child.reply?")
        process = layer.new_channel("child.ws!")
        for name in ("child.plain", single, process, "hand!made"):
            layer.send(name, {"from": "child"})
        layer.group_add("child.room", "child.plain")
        layer.group_add("child.room", "hand!made")
        # no close(): close deletes the instance's own inboxes; flush must find the rest
        results.put(("ok", [single, process]))
    except BaseException as error:  # report, never hang the parent
        results.put(("error", f"{type(error).__name__}: {error}"))


def child_receive(
    url: str, prefix: str, channel: str, start: Any, results: Any, idle: float
) -> None:
    """Receive from ``channel`` until nothing came for ``idle`` seconds; report the ids."""
    from layers.rabbitmq import RabbitMQChannelLayer

    got: list[int] = []
    try:
        with RabbitMQChannelLayer(url, prefix=prefix, blocking_timeout=0.5) as layer:
            start.wait(60)
            last = time.monotonic()
            while time.monotonic() - last < idle:
                name, message = layer.receive([channel], block=True)
                if name is not None:
                    got.append(message["i"])
                    last = time.monotonic()
        results.put(("ok", got))
    except BaseException as error:
        results.put(("error", f"{type(error).__name__}: {error}"))
