"""Topic and consumer-group names of one layer prefix: an injective, Kafka-safe encoding.

Kafka topic names allow ``A-Z a-z 0-9 . _ -`` (at most 249 characters), and Apache Kafka
refuses a topic whose name differs from an existing one only by ``.`` versus ``_`` (they
collide in its metric names). Channel names use the same alphabet, so ``a.b`` and ``a_b``
would collide: names are therefore escaped so that an encoded part never holds ``_``:
``-`` becomes ``-d``, ``_`` becomes ``-u``, ``!`` ``-x`` and ``?`` ``-w``. A bare ``-`` followed
by another letter separates the parts, so no two (prefix, kind, name) triples share a topic.

Topics of a prefix ``P`` (``e(...)`` is the escape):

* ``e(P)-c-e(channel)``: one per normal channel (the application's few channel names);
* ``e(P)-i-e(inbox)``: one per ``!`` inbox (``ws.send.<client_id>!``), owned and read by the
  instance that asks for it;
* ``e(P)-q``: every ``?`` channel, keyed by the full name (partition from a CRC32 of it);
* ``e(P)-k``: the compacted control topic (group memberships, liveness, flush marks);
* ``e(P)-s``: the compacted session store of ``channel_session``.

Names too long for Kafka (a long prefix with a 100-character channel) end in a SHA-1 of the
escaped name instead.
"""

from __future__ import annotations

import hashlib
import zlib

MAX_TOPIC = 249
#: Kind letters after the prefix; never one an escape uses (d, u, x, w).
_KINDS = frozenset("ciqks")
_ESCAPES = str.maketrans({"-": "-d", "_": "-u", "!": "-x", "?": "-w"})


def escape(name: str) -> str:
    """``name`` with ``-``, ``_``, ``!``, ``?`` escaped (see the module docstring)."""
    return name.translate(_ESCAPES)


class TopicNames:
    """The topic and group names of one prefix."""

    def __init__(self, prefix: str) -> None:
        self.base = escape(prefix)
        self.control = f"{self.base}-k"
        self.sessions = f"{self.base}-s"
        self.single_reader = f"{self.base}-q"
        self.starts = f"{self.base}-"
        self._cache: dict[str, str] = {}

    def _bounded(self, kind: str, name: str) -> str:
        topic = f"{self.base}-{kind}-{escape(name)}"
        if len(topic) > MAX_TOPIC:
            digest = hashlib.sha1(topic.encode()).hexdigest()
            topic = f"{self.base}-{kind}-h{digest}"
        return topic

    def queue(self, queue: str) -> str:
        """The topic of a normal channel or of a ``!`` inbox (``name!``)."""
        topic = self._cache.get(queue)
        if topic is None:
            kind = "i" if queue[-1] == "!" else "c"
            topic = self._bounded(kind, queue[:-1] if kind == "i" else queue)
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[queue] = topic
        return topic

    def single_reader_group(self, channel: str) -> str:
        """The consumer group whose committed offset is the read position of a ``?`` channel."""
        return self._bounded("r", channel)

    def owns(self, topic: str) -> bool:
        """Whether ``topic`` belongs to this prefix."""
        if not topic.startswith(self.starts):
            return False
        rest = topic[len(self.starts) :]
        return rest[:1] in _KINDS and (len(rest) == 1 or rest[1] == "-")


def partition_of(channel: str, partitions: int) -> int:
    """The partition of the ``?`` topic that holds ``channel`` (stable across processes)."""
    return zlib.crc32(channel.encode("ascii")) % partitions
