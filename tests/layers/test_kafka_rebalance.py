"""No duplicate and no loss across consumer-group rebalances (SPEC §5, issue 11's bar).

100,000 messages flow into one normal channel while three consumer processes join and leave
its consumer group (each leave is a clean ``close()``, which gives back what the leaving member
took but had not handed out; each join revokes and reassigns the partition). Every message
must be received exactly once. Bounded in time; slow.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from typing import Any

import pytest

from channels_core import load_layer
from tests.layers.kafka_helpers import consume_until_stopped

pytestmark = pytest.mark.slow

MESSAGES = 100_000
SENDERS = 8
#: Seconds between two membership changes of the consumer group.
CHURN_EVERY = 2.0
DEADLINE = 600.0


def test_no_duplicate_and_no_loss_while_consumers_join_and_leave(
    kafka_url: str, unique_prefix: str
) -> None:
    options: dict[str, Any] = {"prefix": unique_prefix, "capacity": MESSAGES, "blocking_timeout": 1}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    producer = load_layer(kafka_url, **options)
    producer.send("work", {"i": -1})  # creates the topic before the consumers subscribe
    consumers: list[tuple[Any, Any]] = []

    def start_consumer() -> None:
        stop = context.Event()
        process = context.Process(
            target=consume_until_stopped,
            args=(kafka_url, options, "work", stop, results),
            daemon=True,
        )
        process.start()
        consumers.append((process, stop))

    def stop_consumer(index: int) -> None:
        process, stop = consumers.pop(index)
        stop.set()
        process.join(60)
        assert process.exitcode == 0, f"a consumer process exited with {process.exitcode}"

    sent = 0
    lock = threading.Lock()

    def send_all(first: int) -> None:
        nonlocal sent
        for index in range(first, MESSAGES, SENDERS):
            producer.send("work", {"i": index})
            with lock:
                sent += 1

    senders = [threading.Thread(target=send_all, args=(k,), daemon=True) for k in range(SENDERS)]
    received: list[int] = []
    started = time.monotonic()
    try:
        start_consumer()
        for thread in senders:
            thread.start()
        changes = 0
        while any(thread.is_alive() for thread in senders):
            assert time.monotonic() - started < DEADLINE, f"only {sent} sent in time"
            time.sleep(CHURN_EVERY)
            # cycle: 1 -> 2 -> 3 -> 2 -> 1 -> 2 ... consumers; the oldest one leaves
            if len(consumers) == 3 or (len(consumers) == 2 and changes % 4 == 3):
                stop_consumer(0)
            else:
                start_consumer()
            changes += 1
        while len(consumers) < 2:
            start_consumer()
        drain_deadline = time.monotonic() + 120
        while time.monotonic() < drain_deadline:  # the last consumers drain the channel
            if producer.channel_statistics("work")["messages_pending"] == 0:
                break
            time.sleep(1)
        while consumers:
            stop_consumer(0)
        while True:
            try:
                report = results.get(timeout=5)
            except queue.Empty:
                break
            assert report[0] == "ok", f"a consumer failed: {report[1]}"
            received.extend(report[1])
    finally:
        for process, stop in consumers:
            stop.set()
            process.join(30)
            if process.is_alive():
                process.kill()
        producer.flush()
        producer.close()
    received = [i for i in received if i >= 0]
    assert changes >= 3, f"only {changes} membership changes happened"
    duplicates = len(received) - len(set(received))
    assert duplicates == 0, f"{duplicates} messages were delivered twice"
    missing = sorted(set(range(MESSAGES)) - set(received))
    assert not missing, f"{len(missing)} messages lost, e.g. {missing[:10]}"
