"""Every layer of this project as a Channels 4 channel layer.

Name it in a Channels 4 project's settings::

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_core.channels4.ChannelLayer",
            "CONFIG": {"url": "postgresql://app@db:5432/app", "prefix": "myapp"},
        }
    }

``url`` is anything :func:`channels_core.load_layer` accepts (a URL, a short name such as
``redis``, or a dotted path; default ``inmemory``); the other ``CONFIG`` keys are the layer's
options (``prefix``, ``capacity``, ``expiry``, ``group_expiry``, ``channel_capacity``,
``message_size_limit``, ``blocking_timeout``, and the backend's own).

It gives the wrapped layer Channels 4's coroutine API (``send``, ``receive(channel)``,
``new_channel``, ``group_add``, ``group_discard``, ``group_send``, ``flush``, ``close``) without
blocking the event loop, and knows nothing of any backend:

* ``receive`` awaits the layer's ``receive_async`` (the ``asyncio`` extension); Channels 4
  receives a process-specific channel by its full name, so one reader task per ``!`` inbox
  (while someone waits on it) hands each message to the waiter of its full name, and keeps what
  arrives for a name nobody waits on in a bounded buffer until it expires;
* ``send``, ``group_send``, ``group_add``, ``group_discard``, ``new_channel``, ``flush`` and
  ``close`` await the layer's coroutines (``send_async``...), which make exactly the checks of
  its synchronous methods and do their I/O natively (Redis, PostgreSQL), on a worker thread
  (the other network backends), or inline (the in-memory layer).

Channels' ``ChannelFull`` is caught by consumers: the adapter raises :class:`ChannelFull`, a
subclass of both this project's and Channels' exception. Names follow Channels 4's rules where
they are stricter than this project's: shorter than 100 characters, and no ``?`` (a
``TypeError`` otherwise, as Channels raises); a ``!`` name needs a part after the ``!``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

from . import exceptions
from .capacity import CapacityMap
from .layer import BaseChannelLayer, Message
from .loading import load_layer
from .names import inbox_name

try:  # Channels' own exception, so that consumers' ``except ChannelFull`` catches ours
    from channels.exceptions import ChannelFull as _ChannelsChannelFull
except ImportError:  # Channels not installed: only our own base
    _ChannelsChannelFull = exceptions.ChannelFull


class ChannelFull(exceptions.ChannelFull, _ChannelsChannelFull):
    """The channel is at capacity (both ``channels_core``'s and Channels' ``ChannelFull``)."""


#: Channels 4 accepts names shorter than this (``channels.layers.BaseChannelLayer``).
MAX_NAME_LENGTH = 100


def _channels4_name(name: str, what: str = "channel") -> str:
    """``name`` if Channels 4 accepts it (the layer checks the rest), else InvalidChannelName."""
    if isinstance(name, str) and (len(name) >= MAX_NAME_LENGTH or "?" in name):
        rule = "has a '?'" if "?" in name else f"is {len(name)} characters (Channels 4: < 100)"
        raise exceptions.InvalidChannelName(f"{what} name {name[:120]!r} {rule}")
    return name


class ChannelLayer:
    """A Channels 4 channel layer over any layer of this project (see the module docstring)."""

    extensions = ["groups", "flush"]
    ChannelFull = ChannelFull
    MessageTooLarge = exceptions.MessageTooLarge

    def __init__(
        self,
        url: str = "inmemory",
        *,
        prefix: str | None = None,
        expiry: float | None = None,
        group_expiry: float | None = None,
        capacity: int | None = None,
        channel_capacity: CapacityMap | None = None,
        message_size_limit: int | None = None,
        **options: Any,
    ) -> None:
        common = {
            "prefix": prefix,
            "expiry": expiry,
            "group_expiry": group_expiry,
            "capacity": capacity,
            "channel_capacity": channel_capacity,
            "message_size_limit": message_size_limit,
        }
        options.update({key: value for key, value in common.items() if value is not None})
        #: The layer of this project doing the work.
        self.layer: BaseChannelLayer = load_layer(url, **options)
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _InboxReaders] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"<ChannelLayer {self.layer!r}>"

    @property
    def expiry(self) -> float:
        return self.layer.expiry

    @property
    def group_expiry(self) -> float:
        return self.layer.group_expiry

    @property
    def capacity(self) -> int:
        return self.layer.capacity

    # -- the Channels 4 API ---------------------------------------------------------------------

    async def send(self, channel: str, message: Message) -> None:
        """Send ``message`` to ``channel``; raises :class:`ChannelFull` at capacity."""
        try:
            await self.layer.send_async(_channels4_name(channel), message)
        except exceptions.ChannelFull as error:
            raise ChannelFull(*error.args) from None

    async def receive(self, channel: str) -> Message:
        """The next message of ``channel`` (a full name, ``!`` ones included); waits for it."""
        _channels4_name(channel)
        if "!" in channel and not channel.endswith("!"):
            return await self._readers().receive(channel)
        while True:
            _, message = await self.layer.receive_async([channel])
            if message is not None:
                return message

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A new process-specific channel name, received only through this layer object."""
        return await self.layer.new_channel_async(prefix.rstrip(".") + "!")

    async def group_add(self, group: str, channel: str) -> None:
        await self.layer.group_add_async(_channels4_name(group, "group"), _channels4_name(channel))

    async def group_discard(self, group: str, channel: str) -> None:
        await self.layer.group_discard_async(
            _channels4_name(group, "group"), _channels4_name(channel)
        )

    async def group_send(self, group: str, message: Message) -> None:
        """Send to every member of ``group``; full members are skipped, never ChannelFull."""
        await self.layer.send_group_async(_channels4_name(group, "group"), message)

    async def flush(self) -> None:
        """Remove every message and group of the layer's ``prefix``."""
        await self.layer.flush_async()
        for readers in list(self._inboxes.values()):
            readers.clear()

    async def close(self) -> None:
        await self.layer.close_async()

    def _readers(self) -> _InboxReaders:
        loop = asyncio.get_running_loop()
        readers = self._inboxes.get(loop)
        if readers is None:
            readers = self._inboxes[loop] = _InboxReaders(self.layer)
        return readers


class _InboxReaders:
    """Per event loop: the reader of each ``!`` inbox someone waits on, handing each message
    to the waiter of its full channel name.

    A receive that finds nobody reading its inbox reads it itself, in its own task (the
    request/reply case: one waiter, no hand-off between tasks), and keeps what it takes for
    other names for their waiters. When it leaves (its message came, or it was cancelled or
    failed) while others still wait on the inbox, a reader task takes over until nobody
    waits. What arrives for a name nobody waits on now is kept (at most its capacity, until
    it expires) for the next ``receive`` of that name; with no reader, unread messages stay
    on the server, where capacity and expiry apply. An error of the layer's receive reaches
    the receive reading, and every waiter of a reader task.
    """

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.buffers: dict[str, deque[tuple[float, Message]]] = {}
        #: channel -> the futures of the receives waiting on it (each resolved once, by the
        #: reader of its inbox when a message for it arrives or when that reader stops)
        self.arrived: dict[str, list[asyncio.Future[None]]] = {}
        self.waiting: dict[str, int] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        #: inboxes read by a receive in its own task
        self.reading: set[str] = set()
        self.dropped = 0

    async def receive(self, channel: str) -> Message:
        inbox = inbox_name(channel)
        self.waiting[channel] = self.waiting.get(channel, 0) + 1
        try:
            while True:
                message = self._take(channel)
                if message is not None:
                    return message
                reader = self.tasks.get(inbox)
                if reader is None and inbox not in self.reading:
                    message = await self._read_here(inbox, channel)
                    if message is not None:
                        return message
                    continue
                arrived = asyncio.get_running_loop().create_future()
                waiters = self.arrived.setdefault(channel, [])
                waiters.append(arrived)
                try:
                    await arrived
                finally:
                    if arrived.cancelled() and arrived in waiters:  # this receive was cancelled
                        waiters.remove(arrived)
                        if not waiters and self.arrived.get(channel) is waiters:
                            del self.arrived[channel]
                if (
                    reader is not None
                    and reader.done()
                    and not reader.cancelled()
                    and reader.exception() is not None
                ):
                    raise reader.exception()  # type: ignore[misc]  # the layer's error
        finally:
            self.waiting[channel] -= 1
            if not self.waiting[channel]:
                del self.waiting[channel]

    async def _read_here(self, inbox: str, channel: str) -> Message | None:
        """Read ``inbox`` in this task until a message for ``channel`` comes (returned), or
        one is buffered for it by then (None); others' messages go to their waiters."""
        self.reading.add(inbox)
        try:
            while True:
                got, message = await self.layer.receive_async([inbox])
                if got == channel and message is not None and channel not in self.buffers:
                    return message
                if got is not None and message is not None:
                    self._keep(got, message)
                    if got == channel:
                        return None  # buffered behind older ones: take in order
        finally:
            self.reading.discard(inbox)
            if self._others_wait(inbox, channel):
                self.tasks[inbox] = asyncio.ensure_future(self._read(inbox))

    def _others_wait(self, inbox: str, channel: str) -> bool:
        """Whether a receive other than one of ``channel`` waits on ``inbox``."""
        return any(
            inbox_name(name) == inbox and (name != channel or count > 1)
            for name, count in self.waiting.items()
        )

    def _keep(self, channel: str, message: Message) -> None:
        """Buffer ``message`` for ``channel`` and wake its waiters."""
        buffer = self.buffers.setdefault(channel, deque())
        if len(buffer) >= self.layer.capacity_for(channel):
            self.dropped += 1  # at most once: a full local buffer drops, never blocks
            return
        buffer.append((time.monotonic() + self.layer.expiry, message))
        self._wake(self.arrived.pop(channel, ()))

    def _take(self, channel: str) -> Message | None:
        buffer = self.buffers.get(channel)
        now = time.monotonic()
        while buffer:
            expires_at, message = buffer.popleft()
            if expires_at > now:
                if not buffer:
                    del self.buffers[channel]
                return message
        self.buffers.pop(channel, None)
        return None

    def _someone_waits(self, inbox: str) -> bool:
        return any(inbox_name(channel) == inbox for channel in self.waiting)

    async def _read(self, inbox: str) -> None:
        try:
            while self._someone_waits(inbox):
                channel, message = await self.layer.receive_async([inbox])
                if channel is not None and message is not None:
                    self._keep(channel, message)
        finally:
            del self.tasks[inbox]
            for channel in [name for name in self.arrived if inbox_name(name) == inbox]:
                self._wake(self.arrived.pop(channel))

    @staticmethod
    def _wake(waiters: Iterable[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.buffers.clear()
