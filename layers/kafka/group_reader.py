"""Reading one normal channel through a Kafka consumer group, at most once.

Every process that receives on a normal channel runs one :class:`GroupReader` for it: a member
of the channel's consumer group, polled by its own thread (kafka-python 3.x drops a finished
group join when no ``poll`` of that consumer is waiting for it, so consumers polled in turn
from one thread would keep rebalancing; a thread per consumer always has a poll waiting).

At most once: records are *taken* by committing their offsets before anyone sees them. The
thread commits a few records ahead of the callers (``ready``), starting with one and doubling
while callers keep draining (up to ``batch``); callers hand out only committed records.

A rebalance neither duplicates nor drops: records fetched but not committed are simply not
committed (the next owner starts at the committed offset); records committed ahead but not yet
handed out are given back on revoke (and on close and on idle release) by committing the
offset of the first of them again, so the next owner starts there. Only a crash of this
process loses them (the contract allows it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .client import KafkaClient, KafkaError, OffsetAndMetadata, TopicPartition, kafka

logger = logging.getLogger(__name__)

#: Milliseconds one poll of the reader thread waits when it has nothing to do, and when it
#: holds fetched records the callers have not asked for yet (it commits more as soon as they
#: drain what it committed: a poll cannot be interrupted, so it stays short then).
POLL_MS = 20
BACKLOG_POLL_MS = 2
#: Most fetched, uncommitted records kept before the partition is paused.
FETCHED_LIMIT = 2000


class GroupReader:
    """One consumer-group member reading one single-partition channel topic."""

    def __init__(
        self,
        client: KafkaClient,
        topic: str,
        group: str,
        batch: int,
        consumer_options: dict[str, Any],
        flush_mark: Callable[[str], int],
        arrived: threading.Condition,
    ) -> None:
        self.topic = topic
        self.group = group
        self.tp = TopicPartition(topic, 0)
        self._client = client
        self._batch = max(1, batch)
        self._options = consumer_options
        self._flush_mark = flush_mark
        self._arrived = arrived
        self._lock = threading.Lock()
        self.fetched: deque[Any] = deque()  # fetched, not committed
        self.ready: deque[Any] = deque()  # committed (taken), not handed out
        self.owner = False  # whether this member owns the partition
        self.joined = threading.Event()
        self.fetched_to = -1  # the next offset the fetcher will return (-1: unknown)
        self.given_back_failures = 0
        self.error: BaseException | None = None
        self.last_asked = time.monotonic()
        self._ahead = 1
        self._assignment_changed = False
        self._committing = 0
        self._committing_from = -1
        self._epoch = 0  # counts clear_taken: a commit ahead that spans one hands nothing out
        self._committed = -1  # the group's committed offset as this member last set it
        self._starved = False
        self._last_take = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kafka-group-{topic}", daemon=True)
        self._thread.start()

    # -- the callers' side ----------------------------------------------------------------------

    def take(self) -> Any | None:
        """The next taken record, or None (the caller checks expiry)."""
        self.last_asked = time.monotonic()
        with self._lock:
            if not self.ready:
                if self.fetched:
                    self._starved = True
                return None
            record = self.ready.popleft()
            self._last_take = self.last_asked
            if not self.ready and self.fetched:
                self._starved = True
            return record

    def hand_out_position(self) -> int | None:
        """The offset of the next record this member will hand out (None if it does not own
        the partition or does not know yet): what is pending starts there."""
        with self._lock:
            if not self.owner or self._committed < 0:
                return None
            if self.ready:
                return int(self.ready[0].offset)
            if self._committing_from >= 0:
                return self._committing_from
            return self._committed

    def catching_up(self, end: int) -> bool:
        """Whether a receive must still wait for this member to hand out the records before
        ``end``: it is joining or rebalancing (it may own the channel once that completes), or
        it owns the channel and has not yet fetched and taken up to ``end``. A member that
        joined without the partition (another process reads it) never makes a receive wait."""
        with self._lock:
            if not self.joined.is_set():
                return True
            if not self.owner:
                return False
            return self.fetched_to < end or (bool(self.fetched) and not self.ready)

    def pending_here(self) -> int:
        """Records this process took (or is taking) but has not handed out (counted as
        pending: the group's committed offset is already past them)."""
        return len(self.ready) + self._committing

    def drop_flushed(self, mark: int) -> None:
        """Forget fetched and taken records before a flush mark."""
        with self._lock:
            self.ready = deque(r for r in self.ready if r.offset >= mark)
            self.fetched = deque(r for r in self.fetched if r.offset >= mark)

    def stop(self, timeout: float = 5.0) -> None:
        """Leave the group, giving back what was taken but not handed out."""
        self._stop.set()
        if timeout and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the reader thread ----------------------------------------------------------------------

    def _run(self) -> None:
        consumer = None
        try:
            consumer = self._client.consumer(
                group_id=self.group, max_poll_records=500, **self._options
            )
            consumer.subscribe([self.topic], listener=_Listener(self, consumer))
            while not self._stop.is_set():
                if self._assignment_changed:
                    self._learn_position(consumer)
                busy = self._refill(consumer)
                # resumed once the callers drained half, also when a revoke emptied it
                if len(self.fetched) < FETCHED_LIMIT // 2 and self.tp in consumer.paused():
                    consumer.resume(self.tp)
                try:
                    wait = 0 if busy else BACKLOG_POLL_MS if self.fetched else POLL_MS
                    batches = consumer.poll(timeout_ms=wait, max_records=500)
                except KafkaError as error:
                    logger.warning("Kafka consumer of %s: %s", self.topic, error)
                    self._stop.wait(0.2)
                    continue
                records = batches.get(self.tp)
                if records:
                    with self._lock:
                        expected = self.fetched_to
                        if expected < 0 or self._assignment_changed:
                            # fetched before this member learnt where it reads from
                            records = []
                        elif records[0].offset < expected:
                            # fetched before a rejoin moved the position: already taken
                            records = [r for r in records if r.offset >= expected]
                        self.fetched.extend(records)
                        if records:
                            self.fetched_to = records[-1].offset + 1
                        if len(self.fetched) > FETCHED_LIMIT:
                            consumer.pause(self.tp)
        except BaseException as error:  # report to the callers, never die silently
            self.error = error
            logger.exception("Kafka group reader of %s failed", self.topic)
        finally:
            if consumer is not None:
                self._give_back(consumer)
                try:
                    consumer.close(autocommit=False)
                except Exception:
                    pass
            with self._lock:
                self.owner = False
                self.joined.set()
            with self._arrived:
                self._arrived.notify_all()

    def _refill(self, consumer: Any) -> bool:
        """Commit the next records ahead of the callers if they need them; True if busy."""
        with self._lock:
            if not self.owner or not self.fetched:
                return False
            if self._starved:
                self._ahead = min(self._ahead * 2, self._batch)
                self._starved = False
            elif time.monotonic() - self._last_take > 0.05:
                self._ahead = 1
            if len(self.ready) >= self._ahead:
                return False
            mark = self._flush_mark(self.topic)
            while self.fetched and self.fetched[0].offset < mark:
                self.fetched.popleft()
            count = min(len(self.fetched), self._ahead - len(self.ready))
            if count <= 0:
                return False
            batch = [self.fetched[index] for index in range(count)]
            self._committing = count
            self._committing_from = batch[0].offset
            epoch = self._epoch
        try:
            consumer.commit({self.tp: OffsetAndMetadata(batch[-1].offset + 1, "", -1)})
        except KafkaError as error:  # a rebalance is under way: the next poll handles it
            logger.debug("commit ahead on %s failed: %s", self.topic, error)
            with self._lock:
                self._committing, self._committing_from = 0, -1
            return False
        with self._lock:
            self._committing, self._committing_from = 0, -1
            if self._epoch != epoch:
                # revoked (or given back) while the commit was on its way: that gave back
                # from the batch's first record on, after this commit; not ours to hand out
                return False
            self._committed = batch[-1].offset + 1
            for _ in range(count):
                if self.fetched:  # a flush may have dropped some meanwhile
                    self.ready.append(self.fetched.popleft())
        with self._arrived:
            self._arrived.notify_all()
        return bool(self.fetched)

    def revoke(self) -> int | None:
        """The partition is leaving this member: receives wait for the rejoin (instead of
        finding no owner), and what it took is forgotten; the offset of the first taken
        record, if any, to give back."""
        with self._lock:
            self.joined.clear()
            self.owner = False
        return self.clear_taken()

    def clear_taken(self) -> int | None:
        """Forget fetched and taken records; the offset of the first taken one (or of the
        first being taken: a commit ahead on its way), if any, to give back. A commit ahead
        that completes afterwards hands nothing out."""
        with self._lock:
            self._epoch += 1
            if self.ready:
                first: int | None = self.ready[0].offset
            else:
                first = self._committing_from if self._committing_from >= 0 else None
            self.ready.clear()
            self.fetched.clear()
            self.fetched_to = -1
        return first

    def give_back_failed(self, first: int, error: BaseException) -> None:
        self.given_back_failures += 1
        logger.warning(
            "could not give back records from offset %d of %s to the group (%s): they are lost",
            first,
            self.topic,
            error,
        )

    def _give_back(self, consumer: Any) -> None:
        """Commit the offset of the first taken-but-not-handed-out record again."""
        first = self.clear_taken()
        if first is None:
            return
        try:
            consumer.commit({self.tp: OffsetAndMetadata(first, "", -1)})
        except KafkaError as error:
            self.give_back_failed(first, error)

    def _learn_position(self, consumer: Any) -> None:
        """After a join (on the reader thread: the listener may not block). An owner reads
        from the group's committed offset (the log's start if none), whatever it fetched
        before: kafka-python keeps its own fetch position when a member gets back the
        partition it had, which would skip what the revoke gave back."""
        self._assignment_changed = False
        owner = self.tp in consumer.assignment()
        position = -1
        if owner:
            try:
                committed = consumer.committed(self.tp, timeout_ms=self._client.timeout_ms)
                if committed is None:  # the group never committed: from the log's start
                    consumer.seek_to_beginning(self.tp)
                else:
                    consumer.seek(self.tp, committed)
                position = consumer.position(self.tp, timeout_ms=self._client.timeout_ms)
            except KafkaError as error:
                logger.warning("position of %s unknown: %s", self.topic, error)
                self._assignment_changed = True
                return
        with self._lock:
            self.fetched.clear()
            self.fetched_to = position
            self._committed = position
            self.owner = owner
            self.joined.set()
        with self._arrived:
            self._arrived.notify_all()


class _Listener(kafka.AsyncConsumerRebalanceListener):
    """Rebalance hooks; kafka-python runs them on its IO thread, where only awaiting is allowed."""

    def __init__(self, reader: GroupReader, consumer: Any) -> None:
        self._reader = reader
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        reader = self._reader
        first = reader.revoke()
        if first is not None:
            try:
                await self._consumer.commit_async({reader.tp: OffsetAndMetadata(first, "", -1)})
            except Exception as error:
                reader.give_back_failed(first, error)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._reader._assignment_changed = True
