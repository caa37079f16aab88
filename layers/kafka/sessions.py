"""``channel_session`` data on Kafka: a compacted topic per prefix, read into every process.

A save appends ``key -> (expiry time, encoded data)``; a delete appends a tombstone (compaction
keeps the latest record per key). A load first catches up with the topic (one ListOffsets
round trip, plus a fetch when something changed), so a session saved by any process is seen.
Expired entries are ignored and dropped from memory; a delete also removes them from Kafka.
The data is msgpack, sealed with the layer's ``symmetric_encryption_keys`` when it has them
(:class:`~channels_core.session_store.SessionCodec`), and at most ``message_size_limit`` bytes
(a larger session raises ``MessageTooLarge``; a record must fit the layer's produce limit).
"""

from __future__ import annotations

import time

import msgpack

from channels_core.crypto import SymmetricCipher
from channels_core.session_store import SessionCodec, SessionData, SessionStore

from .client import KafkaClient
from .control import TopicView, pack


class _SessionView(TopicView):
    def __init__(self, client: KafkaClient, topic: str) -> None:
        super().__init__(client, topic)
        self.entries: dict[str, tuple[float, bytes]] = {}

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if not key:
            return
        name = key.decode("utf-8", "replace")
        if value is None:
            self.entries.pop(name, None)
            return
        expires_at, data = msgpack.unpackb(value)
        self.entries[name] = (float(expires_at), bytes(data))

    def _reset(self) -> None:
        self.entries.clear()


class KafkaSessionStore(SessionStore):
    """Sessions in the prefix's compacted session topic."""

    def __init__(
        self, client: KafkaClient, topic: str, cipher: SymmetricCipher | None, size_limit: int
    ) -> None:
        self._view = _SessionView(client, topic)
        self._codec = SessionCodec(cipher, size_limit)

    def load(self, key: str) -> SessionData | None:
        self._view.sync()
        entry = self._view.entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.time():
            self._view.entries.pop(key, None)
            return None
        return self._codec.loads(entry[1])

    def save(self, key: str, data: SessionData, ttl: float) -> None:
        payload = self._codec.dumps(data)
        self._view.write([(key.encode("utf-8"), pack([time.time() + ttl, payload]))])

    def delete(self, key: str) -> None:
        self._view.write([(key.encode("utf-8"), None)])

    def close(self) -> None:
        self._view.close()
