"""In-memory channel layer: the embedded default.

Features
    The whole contract and every extension (``groups``, ``flush``, ``statistics``,
    ``asyncio`` alias ``async``, ``twisted``), thread-safe, with expiry (an expired unread
    message evicts its channel from its groups), group expiry, per-channel capacity and
    statistics. No server, no dependency (Twisted only for ``receive_twisted``).
    ``!`` channels share their inbox's capacity and are delivered through the same
    :class:`~channels_core.inbox.ProcessInbox` as on the network backends: ``send_group``
    stores one entry per inbox for all the ``!`` members behind it (group fan-out).

Connection string
    ``memory://`` (options as a query string: ``memory://?capacity=500&expiry=30``), or the
    short name ``inmemory``.

Options
    Only the common ones of :class:`~channels_core.layer.BaseChannelLayer`: ``expiry`` (60),
    ``group_expiry`` (86400), ``capacity`` (100), ``channel_capacity``, ``prefix`` ("asgi"),
    ``message_size_limit`` (1 MiB), ``blocking_timeout`` (5), ``symmetric_encryption_keys``
    (None).

Deviation
    Its data lives inside one layer object in one process: other processes (and other
    instances) never see it. Use a network backend to talk across processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any, ClassVar

from channels_core.exceptions import ChannelFull
from channels_core.inbox import (
    SEPARATOR,
    ProcessInbox,
    address_channels,
    address_size,
    entry_address,
)
from channels_core.layer import RECEIVE_EXTENSIONS, BaseChannelLayer, RawReceived
from channels_core.names import inbox_name
from channels_core.registry import Backend
from channels_core.statistics import RateCounter, Statistics

# (expires_at, channel or inbox entry address, payload, sent_at)
_Entry = tuple[float, str, bytes, float]


class _ChannelCounters:
    __slots__ = ("full", "last_active", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.full = 0
        self.last_active = 0.0


class InMemoryChannelLayer(BaseChannelLayer):
    """The contract in one process's memory; see the module docstring."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", *RECEIVE_EXTENSIONS]
    deviations: ClassVar[dict[str, str]] = {
        "cross-process": "an in-memory layer lives inside one process; other processes cannot "
        "see its messages (use a network backend for that)",
        "cross-instance": "each in-memory layer object holds its own data; another object, "
        "even on the same configuration, cannot see it",
    }
    #: Its hooks only take a short lock: coroutines (``send_async``...) call them inline.
    inline_io: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cond = threading.Condition(threading.Lock())
        self._queues: dict[str, deque[_Entry]] = {}
        self._groups: dict[str, dict[str, float]] = {}  # group -> channel -> added_at
        self._memberships: dict[str, set[str]] = {}  # channel -> groups (for eviction)
        self._counters: dict[str, _ChannelCounters] = {}
        self._sent = RateCounter()
        self._full = RateCounter()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._blocked = 0  # threads waiting in a blocking receive
        self._next_sweep = 0.0
        self._sweep_interval = min(1.0, self.expiry / 4)
        # ``!`` inboxes are drained into per-channel buffers, as on every backend
        self._inbox = ProcessInbox(
            self.capacity_for, clock=time.monotonic, sweep_interval=self._sweep_interval
        )

    # -- storing and taking -------------------------------------------------------------------

    def _send(self, channel: str, payload: bytes) -> None:
        queue_name = inbox_name(channel)
        capacity = self.capacity_for(queue_name)
        with self._cond:
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
            queue = self._queues.get(queue_name)
            if queue is None:
                queue = self._queues[queue_name] = deque()
            elif queue[0][0] <= now:
                self._drop_expired(queue, now)
            counters = self._counter(queue_name, now)
            if len(queue) >= capacity:
                counters.full += 1
                self._full.add(1, now)
                raise ChannelFull(f"channel {channel!r} is at its capacity of {capacity}")
            queue.append((now + self.expiry, channel, payload, now))
            counters.sent += 1
            self._sent.add(1, now)
            if self._blocked or self._waiters:
                self._wake()

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        buffers = self._inbox
        for name in channels:  # messages already drained need no layer lock (the request path)
            if buffers.has(name):
                taken = buffers.take(name)
                if taken is not None:
                    return taken
        deadline = None
        with self._cond:
            while True:
                now = time.monotonic()
                for name in channels:
                    if name[-1] == "!":
                        taken = self._take_inbox(name, now)
                        if taken is not None:
                            return taken
                        continue
                    queue = self._queues.get(name)
                    if not queue:
                        continue
                    if queue[0][0] <= now:
                        self._drop_expired(queue, now)
                        if not queue:
                            del self._queues[name]
                            continue
                    _, channel, payload, _ = queue.popleft()
                    if not queue:
                        del self._queues[name]
                    return channel, payload
                if not block or self._closed:
                    return None
                if deadline is None:
                    deadline = now + self.blocking_timeout
                remaining = deadline - now
                if remaining <= 0:
                    return None
                self._blocked += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._blocked -= 1

    def _take_inbox(self, inbox: str, now: float) -> RawReceived:
        """The next message of a ``!`` inbox: from its buffers, draining its queue into them
        first when they have nothing (and room). Called with the lock held."""
        buffers = self._inbox
        if buffers.has(inbox):
            taken = buffers.take(inbox)
            if taken is not None:
                return taken
        queue = self._queues.get(inbox)
        if queue:
            if queue[0][0] <= now:
                self._drop_expired(queue, now)
                if not queue:
                    del self._queues[inbox]
                    return None
            if len(queue) == 1 and SEPARATOR not in queue[0][1]:
                # one message for one name and nothing buffered: draining it into the buffers
                # and taking it back out would return just that (the request/reply case)
                del self._queues[inbox]
                return queue[0][1], queue[0][2]
            room = buffers.room(inbox)
            drained = []
            while queue and room > 0:
                expires_at, address, payload, _ = queue.popleft()
                drained.append((address, payload, expires_at))
                room -= address_size(address)
            if not queue:
                del self._queues[inbox]
            buffers.put_many(drained)
            for channel in buffers.expired_channels():
                self._evict(channel)
            return buffers.take(inbox)
        return None

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        result = self._receive(channels, block=False)  # the busy path: no waiter needed
        if result is not None or self._closed:
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.blocking_timeout
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            entry = (loop, waiter)
            with self._cond:
                self._waiters.add(entry)
            try:
                result = self._receive(channels, block=False)
                if result is not None or self._closed:
                    return result
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    async with asyncio.timeout(remaining):  # no extra future, unlike wait_for
                        await waiter
                except TimeoutError:
                    return self._receive(channels, block=False)
            finally:
                with self._cond:
                    self._waiters.discard(entry)

    def _wake(self) -> None:
        """Wake blocked receivers (threads and coroutines). Called with the lock held.

        Each waiting coroutine is woken once (then unlisted: it lists a new waiter if it has
        to wait again), so a burst of sends schedules one wake-up per waiter, not one per
        send; on the running event loop without the thread-safe call's self-pipe write. The
        wake-up is always a callback, never a direct resolution: a receive cancelled just
        before it sees its cancellation first, and leaves the message for the next receive.
        """
        self._cond.notify_all()
        if self._waiters:
            running = _running_loop()
            for loop, waiter in self._waiters:
                if loop is running:
                    loop.call_soon(_resolve, waiter)
                else:
                    loop.call_soon_threadsafe(_resolve, waiter)
            self._waiters.clear()

    def _channel_in_use(self, name: str) -> bool:
        with self._cond:
            if name in self._memberships:
                return True
            if "!" not in name:
                return name in self._queues
            # A ``!`` name shares its inbox with its neighbours: look for its own messages.
            if self._inbox.holds(name):
                return True
            inbox = self._queues.get(inbox_name(name))
            return inbox is not None and any(name in address_channels(entry[1]) for entry in inbox)

    # -- expiry -------------------------------------------------------------------------------

    def _drop_expired(self, queue: deque[_Entry], now: float) -> None:
        """Drop expired entries at the head of ``queue``; evict their channels from groups.

        The caller deletes the queue from ``_queues`` if it is left empty and not about to be
        appended to.
        """
        while queue and queue[0][0] <= now:
            _, address, _, _ = queue.popleft()
            for channel in address_channels(address):
                self._evict(channel)

    def _evict(self, channel: str) -> None:
        """Remove ``channel`` from all its groups (a message of it expired unread)."""
        for group in self._memberships.pop(channel, ()):
            members = self._groups.get(group)
            if members is not None:
                members.pop(channel, None)
                if not members:
                    del self._groups[group]

    def _sweep(self, now: float) -> None:
        """Expire messages everywhere, lapse old memberships, forget idle counters."""
        self._next_sweep = now + self._sweep_interval
        for name, queue in list(self._queues.items()):
            if not queue or queue[0][0] <= now:
                self._drop_expired(queue, now)
                if not queue:
                    del self._queues[name]
        for channel in self._inbox.expired_channels():
            self._evict(channel)
        lapse_before = now - self.group_expiry
        for group, members in list(self._groups.items()):
            for channel, added_at in list(members.items()):
                if added_at <= lapse_before:
                    self._remove_member(group, channel)
        idle_before = now - self.expiry
        for name, counters in list(self._counters.items()):
            if counters.last_active < idle_before and name not in self._queues:
                del self._counters[name]

    def _counter(self, queue_name: str, now: float) -> _ChannelCounters:
        """The counters of ``queue_name``, marked active at ``now``."""
        counters = self._counters.get(queue_name)
        if counters is None:
            counters = self._counters[queue_name] = _ChannelCounters()
        counters.last_active = now
        return counters

    # -- groups -------------------------------------------------------------------------------

    def _group_add(self, group: str, channel: str) -> None:
        with self._cond:
            members = self._groups.setdefault(group, {})
            members.pop(channel, None)  # re-insert: members stay ordered oldest-first
            members[channel] = time.monotonic()
            self._memberships.setdefault(channel, set()).add(group)

    def _group_discard(self, group: str, channel: str) -> None:
        with self._cond:
            self._remove_member(group, channel)

    def _remove_member(self, group: str, channel: str) -> None:
        members = self._groups.get(group)
        if members is None or members.pop(channel, None) is None:
            return
        if not members:
            del self._groups[group]
        groups = self._memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._memberships[channel]

    def _live_members(self, group: str, now: float) -> list[str]:
        """Members of ``group`` after lapsing old memberships (they are ordered oldest-first)."""
        members = self._groups.get(group)
        if not members:
            return []
        lapse_before = now - self.group_expiry
        while members:
            channel, added_at = next(iter(members.items()))
            if added_at > lapse_before:
                break
            self._remove_member(group, channel)
        return list(members)

    def _group_channels(self, group: str) -> list[str]:
        with self._cond:
            now = time.monotonic()
            for channel in self._live_members(group, now):
                queue_name = inbox_name(channel)
                queue = self._queues.get(queue_name)
                if queue and queue[0][0] <= now:  # an expired unread message evicts its channel
                    self._drop_expired(queue, now)
                    if not queue:
                        del self._queues[queue_name]
            return list(self._groups.get(group, ()))

    def _send_group(self, group: str, payload: bytes) -> None:
        """One entry per queue: a plain member's channel, or the inbox of ``!`` members (one
        entry addressed to all of them, SPEC §5 "Group fan-out")."""
        with self._cond:
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
            by_queue: dict[str, list[str]] = {}
            for channel in self._live_members(group, now):
                bang = channel.find("!")
                by_queue.setdefault(channel if bang < 0 else channel[: bang + 1], []).append(
                    channel
                )
            queues, counters_of, capacity_for = self._queues, self._counters, self.capacity_for
            memberships = self._memberships
            uniform = capacity_for.uniform
            expires_at = now + self.expiry
            delivered = full = 0
            for queue_name, members in by_queue.items():
                queue = queues.get(queue_name)
                if queue is None:
                    queue = queues[queue_name] = deque()
                elif queue[0][0] <= now:
                    self._drop_expired(queue, now)
                    # members evicted just now have no reader any more
                    members = [channel for channel in members if channel in memberships]
                    if not members:
                        if not queue:
                            del queues[queue_name]
                        continue
                counters = counters_of.get(queue_name)
                if counters is None:
                    counters = counters_of[queue_name] = _ChannelCounters()
                counters.last_active = now
                if len(queue) >= (uniform or capacity_for(queue_name)):
                    counters.full += len(members)
                    full += len(members)
                    if not queue:
                        del queues[queue_name]
                    continue
                queue.append((expires_at, entry_address(members), payload, now))
                counters.sent += len(members)
                delivered += len(members)
            if full:
                self._full.add(full, now)
            if delivered:
                self._sent.add(delivered, now)
                if self._blocked or self._waiters:
                    self._wake()

    # -- flush, statistics, close -------------------------------------------------------------

    def _flush(self) -> None:
        with self._cond:
            self._queues.clear()
            self._groups.clear()
            self._memberships.clear()
            self._inbox.clear()

    def _global_statistics(self) -> Statistics:
        with self._cond:
            now = time.monotonic()
            self._sweep(now)
            oldest = min((queue[0][3] for queue in self._queues.values()), default=now)
            return self._inbox.add_to_global(
                {
                    "messages_count": self._sent.total,
                    "messages_pending": sum(len(queue) for queue in self._queues.values()),
                    "messages_max_age": now - oldest,
                    "channel_full_count": self._full.total,
                    "messages_count_per_second": self._sent.per_second(now),
                    "channel_full_count_per_second": self._full.per_second(now),
                }
            )

    def _channel_statistics(self, channel: str) -> Statistics:
        queue_name = inbox_name(channel)
        with self._cond:
            now = time.monotonic()
            queue = self._queues.get(queue_name)
            if queue and queue[0][0] <= now:
                self._drop_expired(queue, now)
                if not queue:
                    del self._queues[queue_name]
            counters = self._counters.get(queue_name) or _ChannelCounters()
            return self._inbox.add_to_channel(
                channel,
                {
                    "messages_count": counters.sent,
                    "messages_pending": len(queue) if queue else 0,
                    "messages_max_age": now - queue[0][3] if queue else 0.0,
                    "channel_full_count": counters.full,
                },
            )

    def _close(self) -> None:
        with self._cond:
            self._inbox.clear()
            self._wake()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


#: This backend's registration (:mod:`channels_core.registry`).
BACKEND = Backend(
    name="inmemory",
    layer="layers.inmemory:InMemoryChannelLayer",
    schemes=("memory",),
    aliases=("memory", "in-memory"),
    title="in-memory (default)",
)
