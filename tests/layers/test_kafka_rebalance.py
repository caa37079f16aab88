"""No duplicate and no loss across consumer-group rebalances (SPEC §5, issue 11's bar).

Messages flow into one normal channel while three consumer processes join and leave its
consumer group (each leave is a clean ``close()``, which gives back what the leaving member
took but had not handed out; each join revokes and reassigns the partition). Every message
must be received exactly once.

Bounded: :data:`MESSAGES` is what flows in well under a minute on the tests' Tansu broker at
the layer's current speed on the 2-core test machine under load (a send waits for the broker's
ack: 260 to 600 sends/s from :data:`SENDERS` threads; consumer processes take seconds to start
and join). The bar's 100,000 would take 3 to 7 minutes here: it needs sends that do not each
wait for an ack, which the visibility clause (SPEC §5) rules out for a single sender.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MESSAGES = 3_000
SENDERS = 8
#: Seconds between two membership changes of the consumer group, and the fewest changes.
CHURN_EVERY = 1.5
CHANGES = 4
#: Seconds the whole flow (sending with churn, then draining) may take.
DEADLINE = 110.0


def test_no_duplicate_and_no_loss_while_consumers_join_and_leave(
    kafka_url: str, unique_prefix: str
) -> None:
    options: dict[str, Any] = {"prefix": unique_prefix, "capacity": MESSAGES, "blocking_timeout": 1}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    received_count = context.Value("i", 0)
    producer = load_layer(kafka_url, **options)
    producer.send("work", {"i": -1})  # creates the topic before the consumers subscribe
    consumers: list[tuple[Any, Any]] = []

    def start_consumer() -> None:
        stop = context.Event()
        process = context.Process(
            target=consume_until_stopped,
            args=(kafka_url, options, "work", stop, results, received_count),
            daemon=True,
        )
        process.start()
        consumers.append((process, stop))

    def stop_consumer(index: int) -> None:
        process, stop = consumers.pop(index)
        stop.set()
        process.join(30)
        assert process.exitcode == 0, f"a consumer process exited with {process.exitcode}"

    def send_all(first: int) -> None:
        for index in range(first, MESSAGES, SENDERS):
            producer.send("work", {"i": index})

    senders = [threading.Thread(target=send_all, args=(k,), daemon=True) for k in range(SENDERS)]
    received: list[int] = []
    started = time.monotonic()
    changes = 0
    try:
        start_consumer()
        for thread in senders:
            thread.start()
        while changes < CHANGES or any(thread.is_alive() for thread in senders):
            assert time.monotonic() - started < DEADLINE, "sending did not finish in time"
            time.sleep(CHURN_EVERY)
            # cycle: 1 -> 2 -> 3 -> 2 -> 1 -> 2 ... consumers; the oldest one leaves
            if len(consumers) == 3 or (len(consumers) == 2 and changes % 4 == 3):
                stop_consumer(0)
            else:
                start_consumer()
            changes += 1
        while received_count.value < MESSAGES + 1:  # the last consumers drain the channel
            assert time.monotonic() - started < DEADLINE, (
                f"only {received_count.value} of {MESSAGES + 1} received in time"
            )
            time.sleep(0.2)
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
    duplicates = len(received) - len(set(received))
    assert duplicates == 0, f"{duplicates} messages were delivered twice"
    missing = sorted(set(range(MESSAGES)) - set(received))
    assert not missing, f"{len(missing)} messages lost, e.g. {missing[:10]}"
