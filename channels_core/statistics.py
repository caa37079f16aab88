"""The ``statistics`` extension's vocabulary, and a cheap per-second rate counter.

``global_statistics()`` and ``channel_statistics(channel)`` return a :class:`Statistics` dict:

* ``messages_count``: messages accepted by ``send``/``send_group`` (since the counters started);
* ``messages_pending``: messages stored and not yet received or expired;
* ``messages_max_age``: age in seconds of the oldest pending message (0 when none);
* ``channel_full_count``: sends refused with ``ChannelFull``, plus group members skipped because
  full, plus messages a receive buffer had to drop;
* ``messages_malformed_count``: stored entries that were not messages of this layer
  (written by something else under its prefix, or corrupt), dropped when met, where a layer
  counts them;
* ``messages_count_per_second`` and ``channel_full_count_per_second``: averages over the last
  minute, where a layer can count them cheaply.
"""

from __future__ import annotations

import time
from typing import TypedDict


class _Required(TypedDict):
    messages_count: int
    messages_pending: int
    messages_max_age: float
    channel_full_count: int


class Statistics(_Required, total=False):
    messages_count_per_second: float
    channel_full_count_per_second: float
    messages_malformed_count: int


STATISTICS_KEYS = ("messages_count", "messages_pending", "messages_max_age", "channel_full_count")


class RateCounter:
    """Counts events and reports their rate per second over a sliding window of whole seconds."""

    __slots__ = ("_buckets", "_count", "_second", "_window", "total")

    def __init__(self, window: int = 60) -> None:
        self._window = window
        self._buckets: dict[int, int] = {}  # completed seconds -> count
        self._second = 0  # the second being counted
        self._count = 0
        self.total = 0

    def add(self, count: int = 1, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        self.total += count
        if second == self._second:
            self._count += count
            return
        self._roll(second)
        self._count = count

    def _roll(self, second: int) -> None:
        if self._count:
            self._buckets[self._second] = self._count
        self._second, self._count = second, 0
        oldest = second - self._window
        for key in [key for key in self._buckets if key < oldest]:
            del self._buckets[key]

    def per_second(self, now: float | None = None) -> float:
        second = int(time.monotonic() if now is None else now)
        if second != self._second:
            self._roll(second)
        oldest = second - self._window
        past = sum(n for key, n in self._buckets.items() if key >= oldest)
        return (past + self._count) / self._window
