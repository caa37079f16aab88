"""No duplicate and no loss across consumer-group rebalances (SPEC §5, issue 11's bar).

Messages flow into one normal channel while three consumer processes join and leave its
consumer group (each leave is a clean ``close()``, which gives back what the leaving member
took but had not handed out; each join revokes and reassigns the partition). Every message
must be received exactly once.

The producer keeps :data:`CONCURRENT_SENDS` ``send_async`` calls in flight on one event loop:
each still returns only once the broker acknowledged its record (at most once, no silent
loss), and the producer batches the concurrent ones into shared requests, so the bar's 100,000
messages flow in about 20 to 40 s on the tests' Tansu broker on the 2-core test machine
(sequential sends, each waiting for its ack before the next, manage about 1,000/s).

A consumer leaves only once every member has completed its last join: on Tansu, a group
leader that leaves while another member's join is pending stays the leader of the next
generation, which then never completes (every member's SyncGroup answers
REBALANCE_IN_PROGRESS, and the channel is read by nobody; docs/kafka.md). Apache Kafka moves
the leadership in that case. Settling first makes the test broker's bug rare, not impossible:
the test stays an expected failure (not strict) until a run can avoid it for certain.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from typing import Any

import pytest

from channels_core import load_layer
from tests.layers.kafka_helpers import consume_until_stopped

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    # Reported, not skipped (issue 11): Tansu's coordinator can keep a departed member as the
    # group's leader (module docstring, docs/kafka.md), and then nobody reads the channel.
    # Settling the group before each departure avoided it in 6 of 6 runs with the CPU
    # saturated and in one CI run, but a later CI run stalled once more ("the group did not
    # settle in 30 s"), so another membership sequence trips it too. A run that completes
    # proves no loss and no duplicate.
    pytest.mark.xfail(
        reason="Tansu's coordinator can keep a departed member as the group's leader (issue 11)",
        strict=False,
    ),
]

MESSAGES = 100_000
CONCURRENT_SENDS = 64
#: Seconds between two membership changes of the consumer group, and the fewest changes.
CHURN_EVERY = 1.5
CHANGES = 4
#: Seconds the whole flow (sending with churn, then draining) may take.
DEADLINE = 120.0
#: Seconds a departure waits for every member to complete its join.
SETTLE = 30.0


def test_no_duplicate_and_no_loss_while_consumers_join_and_leave(
    kafka_url: str, unique_prefix: str
) -> None:
    options: dict[str, Any] = {"prefix": unique_prefix, "capacity": MESSAGES, "blocking_timeout": 1}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    received_count = context.Value("i", 0)
    producer = load_layer(kafka_url, **options)
    producer.send("work", {"i": -1})  # creates the topic before the consumers subscribe
    consumers: list[tuple[Any, Any, Any]] = []
    received: list[int] = []

    def start_consumer() -> None:
        stop = context.Event()
        joined = context.Value("b", 0)
        process = context.Process(
            target=consume_until_stopped,
            args=(kafka_url, options, "work", stop, results, received_count, joined),
            daemon=True,
        )
        process.start()
        consumers.append((process, stop, joined))

    def settle() -> None:
        """Wait until every member completed its last join (see the module docstring)."""
        deadline = time.monotonic() + SETTLE
        while not all(joined.value for _, _, joined in consumers):
            assert time.monotonic() < deadline, f"the group did not settle in {SETTLE} s"
            time.sleep(0.05)

    def stop_consumer(index: int) -> None:
        settle()
        process, stop, _ = consumers.pop(index)
        stop.set()
        # its report first: a process whose queued report is not read yet cannot exit
        report = results.get(timeout=30)
        assert report[0] == "ok", f"a consumer failed: {report[1]}"
        received.extend(report[1])
        process.join(30)
        assert process.exitcode == 0, f"a consumer process exited with {process.exitcode}"

    send_errors: list[BaseException] = []

    async def send_some(first: int) -> None:
        for index in range(first, MESSAGES, CONCURRENT_SENDS):
            await producer.send_async("work", {"i": index})

    async def send_concurrently() -> None:
        await asyncio.gather(*(send_some(first) for first in range(CONCURRENT_SENDS)))

    def send_all() -> None:
        try:
            asyncio.run(send_concurrently())
        except BaseException as error:  # reported by the test's thread
            send_errors.append(error)

    senders = [threading.Thread(target=send_all, daemon=True)]
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
        assert not send_errors, f"a send failed: {send_errors[0]!r}"
        sent_at = time.monotonic() - started
        while received_count.value < MESSAGES + 1:  # the last consumers drain the channel
            assert time.monotonic() - started < DEADLINE, (
                f"only {received_count.value} of {MESSAGES + 1} received in time"
            )
            time.sleep(0.2)
        while consumers:
            stop_consumer(0)
    finally:
        for process, stop, _ in consumers:
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
    print(f"{MESSAGES} messages sent in {sent_at:.1f} s with {changes} membership changes")
