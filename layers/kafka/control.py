"""The control topic: group memberships, liveness and flush marks, materialised in every instance.

One compacted topic per prefix (``naming.TopicNames.control``) holds, by key:

* ``m <group> <channel>`` -> the time of the last ``group_add`` (a tombstone on ``group_discard``);
* ``e <channel>`` -> an eviction: the channel leaves every group it joined before this record
  (written when one of its messages expired unread);
* ``a <client_id>`` -> the last liveness announcement of a layer instance (``closed`` when it
  closed): ``!`` members of an instance silent for ``3 * liveness_interval`` are dead;
* ``f`` -> the last flush: the end offset of every partition of the prefix at flush time.
  Records before a flush mark are never delivered, and memberships written before it are gone.

Every layer object reads the whole topic into a :class:`ControlTable` and catches up before
any decision that must see other processes' writes (``sync``): one ListOffsets round trip, plus
a fetch when something changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import msgpack

from .client import KafkaClient, KafkaError, TopicPartition

#: Compacted topic configuration for the control and session topics.
COMPACTED = {"cleanup.policy": "compact", "segment.ms": "600000"}


def membership_key(group: str, channel: str) -> bytes:
    return f"m {group} {channel}".encode("ascii")


def eviction_key(channel: str) -> bytes:
    return f"e {channel}".encode("ascii")


def liveness_key(client_id: str) -> bytes:
    return f"a {client_id}".encode("ascii")


FLUSH_KEY = b"f"


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


class TopicView:
    """A compacted single-partition topic read into memory by one consumer; thread-safe.

    Subclasses say how a record changes the view (``_apply``) and how to forget it all
    (``_reset``, when a restarted memory broker lost the topic).
    """

    def __init__(self, client: KafkaClient, topic: str) -> None:
        self._client = client
        self.topic = topic
        self._tp = TopicPartition(topic, 0)
        self._lock = threading.Lock()
        self._consumer: Any = None
        self._position = 0
        self._synced_at = 0.0

    def _open(self) -> Any:
        if self._consumer is None:
            self._client.ensure_topics({self.topic: {"configs": COMPACTED}})
            consumer = self._client.consumer()
            consumer.assign([self._tp])
            consumer.seek(self._tp, 0)
            self._consumer = consumer
        return self._consumer

    def sync(self, max_age: float = 0.0) -> None:
        """Catch up with the topic's end (skipped if done less than ``max_age`` s ago)."""
        if max_age and time.monotonic() - self._synced_at < max_age:
            return
        started = time.monotonic()
        with self._lock:
            if max_age and self._synced_at >= started - max_age:
                return
            consumer = self._open()
            end = self._client.end_offsets([self._tp]).get(self._tp, 0)
            if end < self._position:  # the broker lost the topic (restart of a memory broker)
                self._reset()
                self._position = 0
                consumer.seek(self._tp, 0)
            deadline = time.monotonic() + self._client.timeout
            while self._position < end:
                if time.monotonic() > deadline:
                    raise self._client.error("timed out", f"reading the topic {self.topic}")
                try:
                    batches = consumer.poll(timeout_ms=100, max_records=5000)
                except KafkaError as error:
                    raise self._client.error(error, f"reading the topic {self.topic}") from None
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value, record.offset)
                        self._position = record.offset + 1
            self._synced_at = started

    def write(self, items: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Append records (one batched request) and apply them here at once."""
        self._client.ensure_topics({self.topic: {"configs": COMPACTED}})
        offsets = self._client.produce_many(
            [(self.topic, value, key, 0, None) for key, value in items]
        )
        with self._lock:
            for (key, value), offset in zip(items, offsets, strict=True):
                self._apply(key, value, offset)

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                try:
                    self._consumer.close(autocommit=False)
                except Exception:
                    pass
                self._consumer = None


class ControlTable(TopicView):
    """This instance's copy of the control topic; thread-safe."""

    def __init__(self, client: KafkaClient, topic: str) -> None:
        super().__init__(client, topic)
        # group -> channel -> (timestamp, offset of the record)
        self.groups: dict[str, dict[str, tuple[float, int]]] = {}
        self.alive: dict[str, float] = {}  # client id -> last announcement (0: closed)
        self.marks: dict[str, int] = {}  # "topic:partition" -> first offset after the flush
        self.flush_offset = -1

    def note(self, key: bytes, value: bytes | None, offset: int) -> None:
        """Apply a record this instance just wrote (read-your-writes before the next sync)."""
        with self._lock:
            self._apply(key, value, offset)

    def _reset(self) -> None:
        self.groups.clear()
        self.alive.clear()
        self.marks.clear()
        self.flush_offset = -1

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if not key:
            return
        kind = key[:1]
        if kind == b"m":
            _, group, channel = key.decode("ascii").split(" ", 2)
            members = self.groups.setdefault(group, {})
            if value is None:
                members.pop(channel, None)
            elif offset > self.flush_offset:
                members[channel] = (float(msgpack.unpackb(value)), offset)
        elif kind == b"e":
            channel = key.decode("ascii")[2:]
            for members in self.groups.values():
                entry = members.get(channel)
                if entry is not None and entry[1] < offset:
                    del members[channel]
        elif kind == b"a":
            client_id = key.decode("ascii")[2:]
            self.alive[client_id] = 0.0 if value is None else float(msgpack.unpackb(value))
        elif key == FLUSH_KEY and value is not None and offset > self.flush_offset:
            self.flush_offset = offset
            self.marks = dict(msgpack.unpackb(value))
            for members in self.groups.values():
                for channel in [c for c, (_, at) in members.items() if at < offset]:
                    del members[channel]

    def mark(self, topic: str, partition: int = 0) -> int:
        """The first offset of ``topic``'s partition a flush left deliverable (0 if none)."""
        return self.marks.get(f"{topic}:{partition}", 0)

    def members(self, group: str, now: float, group_expiry: float) -> list[str]:
        """Unexpired members of ``group``."""
        with self._lock:
            members = self.groups.get(group, {})
            return [c for c, (at, _) in members.items() if now - at < group_expiry]

    def dead_clients(self, now: float, timeout: float) -> set[str]:
        """Instances that announced liveness once but not within ``timeout`` (or closed)."""
        with self._lock:
            return {cid for cid, at in self.alive.items() if now - at > timeout}
