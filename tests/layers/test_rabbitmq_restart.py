"""The RabbitMQ layer when its broker restarts: a PRIVATE node this test starts and stops.

Never the shared node on 5672 (others use it): :class:`PrivateRabbitMQ` runs its own
``rabbitmq-server`` with its own node name, ports and data directory. Starting a node takes
a few seconds (more on a loaded machine), so the test is marked slow and bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from channels_core.exceptions import LayerUnavailable
from layers.rabbitmq import RabbitMQChannelLayer
from tests.layers.outage_helpers import BackgroundReceiver, eventually
from tests.layers.rabbitmq_helpers import PrivateRabbitMQ

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture
def node() -> Iterator[PrivateRabbitMQ]:
    private = PrivateRabbitMQ()
    private.start()
    yield private
    private.destroy()


@pytest.mark.timeout(300)
def test_broker_restart_fails_fast_then_the_same_objects_recover(node: PrivateRabbitMQ) -> None:
    layer = RabbitMQChannelLayer(node.url, prefix="restart", blocking_timeout=0.5)
    sender = RabbitMQChannelLayer(node.url, prefix="restart", connect_timeout=2)
    try:
        sender.send("events", {"n": 1})
        with BackgroundReceiver(layer, "events") as receiver:
            eventually(lambda: receiver.received == [1])

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
            eventually(lambda: receiver.errors)  # the receiving thread saw it too, and goes on

            node.start()
            eventually(lambda: sender.send("events", {"n": 2}) is None)
            eventually(lambda: 2 in receiver.received)
            received = receiver.received
            assert received == [1, 2], f"lost or duplicated around the restart: {received}"
            sender.group_add("room", "events")
            sender.send_group("room", {"n": 3})
            eventually(lambda: 3 in receiver.received)
    finally:
        sender.close()
        layer.close()
