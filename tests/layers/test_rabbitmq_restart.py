"""The RabbitMQ layer when its broker restarts: a PRIVATE node this test starts and stops.

Never the shared node on 5672 (others use it): :class:`PrivateRabbitMQ` runs its own
``rabbitmq-server`` with its own node name, ports and data directory. Starting a node takes
a few seconds (more on a loaded machine), so the test is marked slow and bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_core.exceptions import LayerUnavailable
from layers.rabbitmq import RabbitMQChannelLayer
from tests.layers.rabbitmq_helpers import PrivateRabbitMQ

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def node() -> Iterator[PrivateRabbitMQ]:
    private = PrivateRabbitMQ()
    private.start()
    yield private
    private.destroy()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except LayerUnavailable:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_broker_restart_fails_fast_then_the_same_objects_recover(node: PrivateRabbitMQ) -> None:
    receiver = RabbitMQChannelLayer(node.url, prefix="restart", blocking_timeout=0.5)
    sender = RabbitMQChannelLayer(node.url, prefix="restart", connect_timeout=2)
    received: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def receive_forever() -> None:
        while not stop.is_set():
            try:
                _, message = receiver.receive(["events"], block=True)
            except LayerUnavailable as error:
                errors.append(error)
                time.sleep(0.1)
                continue
            if message is not None:
                received.append(message["n"])

    thread = threading.Thread(target=receive_forever, daemon=True)
    try:
        sender.send("events", {"n": 1})
        thread.start()
        _eventually(lambda: received == [1])

        node.stop()
        for call in (
            lambda: sender.send("events", {"n": -1}),
            lambda: sender.group_add("g", "events"),
            lambda: asyncio.run(sender.receive_async(["other"])),
        ):
            started = time.monotonic()
            with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{node.port}"):
                call()
            assert time.monotonic() - started < 8, "a call during the outage hung"
        _eventually(lambda: errors)  # the receiving thread saw it too, and goes on

        node.start()
        _eventually(lambda: sender.send("events", {"n": 2}) is None)
        _eventually(lambda: 2 in received)
        assert received == [1, 2], f"lost or duplicated around the restart: {received}"
        sender.group_add("room", "events")
        sender.send_group("room", {"n": 3})
        _eventually(lambda: 3 in received)
    finally:
        stop.set()
        thread.join(10)
        sender.close()
        receiver.close()
