"""Reading by position: this instance's ``!`` inbox topics and the keyed ``?`` topic.

One :class:`LogReader` per layer object: one consumer with *assigned* partitions (no group
membership, so no rebalance ever), polled by its own thread.

* ``!`` inboxes: a topic per inbox, read by the one instance that asks for it. What arrives
  is moved into the core's :class:`~channels_core.inbox.ProcessInbox` (bounded, expiring
  per-channel buffers); the position is then committed (asynchronously) under the prefix's
  inbox group, so the inbox's lag, which is its capacity count, drops as soon as it is drained.
  A record's key is its inbox-entry address (``channels_core.inbox.entry_address``): one full
  name, or several names of the inbox for a group send (one record per inbox).
* ``?`` channels: one keyed topic, the channel's full name picks the partition. Each channel
  asked for is registered with its read position (its own group's committed offset; for a
  channel never read, the first record younger than ``expiry``); the partition is read from the
  lowest registered position, and each record goes to the buffer of its key if that key is
  registered and has not seen it. A hand-out commits the channel's position first (at most
  once across layer objects), so a later reader starts after it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels_core.inbox import ProcessInbox, address_channels

from .client import KafkaClient, KafkaError, OffsetAndMetadata, TopicPartition

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
#: Seconds a ``?`` channel nobody asks for stays registered.
SINGLE_READER_IDLE = 60.0


@dataclass
class SingleReader:
    """The state of one registered ``?`` channel."""

    channel: str
    tp: Any
    seen_to: int  # the next offset this channel has not considered
    scanned_to: int = 0  # the partition was read from the start position up to here
    buffer: deque[Any] = field(default_factory=deque)
    last_asked: float = field(default_factory=time.monotonic)


class LogReader:
    """The assigned-partition consumer of one layer object, with its polling thread."""

    def __init__(
        self,
        client: KafkaClient,
        inbox_group: str,
        process_inbox: ProcessInbox,
        expiry: float,
        flush_mark: Callable[[str, int], int],
        arrived: threading.Condition,
        consumer_options: dict[str, Any],
    ) -> None:
        self._client = client
        self._inbox = process_inbox
        self._expiry = expiry
        self._flush_mark = flush_mark
        self._arrived = arrived
        self._options = consumer_options
        self._group = inbox_group
        self._lock = threading.Lock()
        self._commands: deque[Callable[[Any], None]] = deque()
        self._wake = threading.Event()
        self.inboxes: dict[Any, str] = {}  # inbox partition -> inbox name
        self.singles: dict[str, SingleReader] = {}
        self._positions: dict[Any, int] = {}  # assigned partition -> next offset to fetch
        self.fetched_to: dict[Any, int] = {}
        self.expired_names: set[str] = set()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kafka-log-reader", daemon=True)
            self._thread.start()

    # -- registration (callers) -----------------------------------------------------------------

    def add_inbox(self, tp: Any, inbox: str, start: int) -> None:
        with self._lock:
            if tp in self.inboxes:
                return
            self.inboxes[tp] = inbox
            self.fetched_to[tp] = start
        self._command(lambda consumer: self._assign(consumer, tp, start))

    def add_single(self, channel: str, tp: Any, start: int) -> SingleReader:
        with self._lock:
            single = self.singles.get(channel)
            if single is not None:
                return single
            single = self.singles[channel] = SingleReader(channel, tp, start, start)
            self.fetched_to.setdefault(tp, start)
        self._command(lambda consumer: self._assign(consumer, tp, start))
        return single

    def rewind(self, behind: list[Any]) -> None:
        """Read these partitions again from their start (a restarted memory broker lost
        them)."""
        if not behind:
            return
        with self._lock:
            for tp in behind:
                self.fetched_to[tp] = 0
                for single in self.singles.values():
                    if single.tp == tp:
                        single.seen_to = single.scanned_to = 0

        def rewind(consumer: Any) -> None:
            for tp in behind:
                if tp in self._positions:
                    self._positions[tp] = 0
                    consumer.seek(tp, 0)

        self._command(rewind)

    def forget_idle_singles(self, now: float) -> None:
        with self._lock:
            for channel in [
                c for c, s in self.singles.items() if now - s.last_asked > SINGLE_READER_IDLE
            ]:
                del self.singles[channel]

    def take_single(self, channel: str) -> Any | None:
        with self._lock:
            single = self.singles.get(channel)
            if single is None:
                return None
            single.last_asked = time.monotonic()
            return single.buffer.popleft() if single.buffer else None

    def put_back_single(self, channel: str, record: Any) -> None:
        with self._lock:
            single = self.singles.get(channel)
            if single is not None:
                single.buffer.appendleft(record)

    def pending_singles(self) -> int:
        with self._lock:
            return sum(len(s.buffer) for s in self.singles.values())

    def drop_flushed(self, mark: Callable[[str, int], int]) -> None:
        """Forget buffered ``?`` records before the flush marks."""
        with self._lock:
            for single in self.singles.values():
                low = mark(single.tp.topic, single.tp.partition)
                single.buffer = deque(r for r in single.buffer if r.offset >= low)

    def _command(self, command: Callable[[Any], None]) -> None:
        self._commands.append(command)
        self._wake.set()
        self._ensure_thread()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the reader thread ----------------------------------------------------------------------

    def _assign(self, consumer: Any, tp: Any, start: int) -> None:
        current = self._positions.get(tp)
        if current is not None and current <= start:
            return
        self._positions[tp] = start
        consumer.assign(list(self._positions))
        for partition, position in self._positions.items():
            consumer.seek(partition, position)

    def _run(self) -> None:
        consumer = None
        try:
            consumer = self._client.consumer(group_id=self._group, **self._options)
            while not self._stop.is_set():
                while self._commands:
                    self._commands.popleft()(consumer)
                if not self._positions:
                    self._wake.wait(0.2)
                    self._wake.clear()
                    continue
                for tp in consumer.paused():
                    if self._inbox.room(self.inboxes.get(tp, "")):
                        consumer.resume(tp)
                try:
                    batches = consumer.poll(timeout_ms=int(POLL_SECONDS * 1000), max_records=2000)
                except KafkaError as error:
                    logger.warning("Kafka inbox reader: %s", error)
                    self._stop.wait(0.2)
                    continue
                if batches:
                    self._route(consumer, batches)
        except BaseException as error:
            self.error = error
            logger.exception("Kafka inbox reader failed")
        finally:
            if consumer is not None:
                try:
                    consumer.close(autocommit=False)
                except Exception:
                    pass

    def _route(self, consumer: Any, batches: dict[Any, list[Any]]) -> None:
        commits = {}
        now = time.time()
        expiry = self._expiry
        for tp, records in batches.items():
            mark = self._flush_mark(tp.topic, tp.partition)
            inbox = self.inboxes.get(tp)
            if inbox is not None:
                entries: list[tuple[str, bytes, float]] = []
                for record in records:
                    if record.offset < mark:
                        continue
                    expires_at = record.timestamp / 1000 + expiry
                    address = record.key.decode("ascii") if record.key else inbox
                    if expires_at <= now:
                        self.expired_names.update(address_channels(address))
                        continue
                    entries.append((address, record.value, expires_at))
                self._inbox.put_many(entries)
                commits[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
                if not self._inbox.room(inbox):  # back-pressure: the inbox fills, senders see
                    consumer.pause(tp)  # ChannelFull; resumed once its buffers have room
            else:
                with self._lock:
                    for record in records:
                        if record.offset < mark or record.key is None:
                            continue
                        single = self.singles.get(record.key.decode("ascii"))
                        if single is not None and record.offset >= single.seen_to:
                            single.buffer.append(record)
                            single.seen_to = record.offset + 1
                    first, last = records[0].offset, records[-1].offset + 1
                    for single in self.singles.values():
                        if single.tp == tp and first <= single.scanned_to < last:
                            single.scanned_to = last
            self._positions[tp] = records[-1].offset + 1
            self.fetched_to[tp] = records[-1].offset + 1
        if commits:
            try:
                consumer.commit_async(commits)
            except KafkaError as error:
                logger.debug("inbox position commit failed: %s", error)
        with self._arrived:
            self._arrived.notify_all()

    def commit_single(self, single_group: str, tp: Any, offset: int) -> None:
        """Commit a ``?`` channel's read position (before its record is handed out)."""
        result = self._client.alter_offsets(single_group, {tp: offset})
        if result is not None:
            raise self._client.error(result, f"committing the read position of {single_group!r}")


__all__ = ["LogReader", "SingleReader", "TopicPartition"]
