"""The Kafka broker of the tests: a private Tansu (``bench.tansu``) on a spare port.

The tests start their own broker (one per session, plus private ones for restart tests)
instead of needing a shared Kafka. It cannot be started -> the test fails loudly (never skips).
``TEST_KAFKA_URL`` points the tests at another broker instead (e.g. Apache Kafka from
``docker-compose.yml``).

Tansu differences the tests work around (see docs/kafka.md): a consumer-group join takes about
a second; :data:`TEST_OPTIONS` shortens the group timeouts below Apache Kafka's minimum.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bench.tansu import SHORT_GROUP_TIMEOUTS, Tansu, TansuUnavailable
from tests.servers import free_port, port_open

TEST_OPTIONS = SHORT_GROUP_TIMEOUTS
SESSION_PORT = int(os.environ.get("TEST_KAFKA_PORT", "0")) or free_port()
KAFKA_URL = os.environ.get("TEST_KAFKA_URL", f"kafka://127.0.0.1:{SESSION_PORT}?{TEST_OPTIONS}")


class PrivateTansu(Tansu):
    """:class:`bench.tansu.Tansu` whose failure to start fails the test (never skips)."""

    def start(self, wait: float = 15.0) -> None:
        try:
            super().start(wait)
        except TansuUnavailable as error:
            pytest.fail(str(error))


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
    url: str,
    options: dict[str, Any],
    channel: str,
    stop: Any,
    results: Any,
    counter: Any = None,
    joined: Any = None,
) -> None:
    """A consumer process: receive ``{"i": n}`` from ``channel`` until ``stop`` is set, then
    close the layer (giving back what it took) and report the ids received. ``counter`` (a
    ``multiprocessing.Value``), if given, counts every receive as it happens; ``joined`` (one
    too), if given, says after every receive whether this process's member of the channel's
    consumer group has completed its last join (0 while it joins or rejoins)."""
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
                if joined is not None:
                    joined.value = int(layer._readers[channel].joined.is_set())
        finally:
            layer.close()
        results.put(("ok", got))
    except BaseException as error:  # report, never hang the parent
        results.put(("error", f"{type(error).__name__}: {error}", got))
