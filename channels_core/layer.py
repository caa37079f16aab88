"""The channel-layer contract, implemented once: :class:`BaseChannelLayer`.

Everything that does not depend on the engine lives here: name rules, message validation and
encoding, size limits, capacity lookup, ``new_channel`` naming, fair ordering of the channels a
``receive`` asks for, the ``receive_many`` alias, ``close()`` and the context manager, the
exception attributes, cancellation safety for every ``receive_async`` (``_cancel_safe``), and
the coroutine versions of the calls (``send_async``...), which make the same checks with the same
code and only await an async I/O hook (by default the sync hook on a worker thread). A
backend subclasses it and only says how its engine stores, moves and expires encoded messages,
by implementing the ``_``-prefixed hooks below.

Guarantees every layer built on this class gives (the contract's §2-§5):

* ``send`` never blocks waiting for a reader; it raises :class:`ChannelFull` at capacity and
  :class:`MessageTooLarge` above ``message_size_limit``, before anything reaches the server.
* ``receive(channels, block=False)`` returns ``(channel, message)`` or ``(None, None)`` promptly;
  with ``block=True`` it waits up to ``blocking_timeout`` seconds. Channels are served fairly.
  For a ``!`` prefix it returns the full channel name.
* A message is delivered at most once, in send order per channel, and never after ``expiry``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from . import codec, twisted_receive
from .capacity import CapacityLookup, CapacityMap
from .crypto import SymmetricCipher
from .exceptions import (
    ChannelFull,
    LayerClosed,
    MalformedMessage,
    MessageTooLarge,
)
from .names import (
    TOKEN_LENGTH,
    check_channel_name,
    check_group_name,
    check_new_channel_pattern,
    check_receive_names,
    inbox_name,
)
from .options import COMMON_OPTIONS, OptionTable
from .session_store import InMemorySessionStore, SessionStore
from .statistics import Statistics

Message = dict[str, Any]
Received = tuple[str, Message] | tuple[None, None]
RawReceived = tuple[str, bytes] | None
T = TypeVar("T")


#: The receive extensions :class:`BaseChannelLayer` implements for every backend, by their
#: ASGI 1.0 names: ``asyncio`` (``receive_async``), ``async`` (its earlier name, kept as an
#: alias) and ``twisted`` (``receive_twisted``). A backend lists them in its ``extensions``.
RECEIVE_EXTENSIONS: tuple[str, ...] = ("asyncio", "async", "twisted")


def random_token(length: int = TOKEN_LENGTH) -> str:
    """A random name part from the OS's entropy (unaffected by ``random.seed``)."""
    raw = base64.urlsafe_b64encode(os.urandom((length * 3 + 3) // 4)).decode("ascii")
    return raw[:length]


class BaseChannelLayer:
    """Base class of every channel layer: the contract in one place.

    Options (all keyword-only, shared by every backend):

    ``expiry`` (60)
        Seconds a message may wait unread; after that it is never delivered, and its channel
        is removed from all its groups.
    ``group_expiry`` (86400)
        Seconds a group membership lasts after its last ``group_add``.
    ``capacity`` (100)
        Pending messages per channel; ``send`` raises :class:`ChannelFull` beyond it.
    ``channel_capacity`` (None)
        Glob strings or compiled regexes mapped to capacities; first match wins. Process-specific
        channels are sized by their inbox name (the part up to and including the ``!``).
    ``prefix`` ("asgi")
        Namespace of this layer on its server: layers with different prefixes never see each
        other's data, and ``flush`` touches nothing outside it.
    ``message_size_limit`` (1 MiB)
        Largest encoded message accepted by ``send`` and ``send_group``.
    ``blocking_timeout`` (5)
        Seconds ``receive(block=True)`` and ``receive_async`` wait before returning nothing.
    ``symmetric_encryption_keys`` (None)
        Keys (``str`` or ``bytes``): message bodies are encrypted with the first and decrypted
        with any (rotation: put the new key first, keep the old ones until their messages
        have expired), AES-256-GCM (:mod:`channels_core.crypto`; the ``encryption`` extra).
        A body no key opens (another key, tampered, or sent unencrypted) is refused with
        :class:`~channels_core.exceptions.MalformedMessage` naming the channel.

    These are :data:`channels_core.options.COMMON_OPTIONS`; a backend adds its own with
    ``options = BaseChannelLayer.options.extend(Option(...), ...)``, and the constructor sets
    every option of the table as an attribute of the same name (declare its type on the class).
    """

    #: Extension names this layer supports (``groups``, ``flush``, ``statistics`` and the
    #: :data:`RECEIVE_EXTENSIONS` ``asyncio``/``async``/``twisted``).
    extensions: ClassVar[list[str]] = []
    #: Deliberate deviations from the contract: conformance clause id -> reason. The
    #: conformance suite reports these clauses as "deviation" with the reason.
    deviations: ClassVar[Mapping[str, str]] = {}
    #: Every option of this layer class: the common ones plus the backend's (see
    #: :mod:`channels_core.options`); used by the constructor, ``from_url`` and the settings.
    options: ClassVar[OptionTable] = COMMON_OPTIONS

    expiry: float
    group_expiry: float
    capacity: int
    channel_capacity: CapacityMap | None
    prefix: str
    message_size_limit: int
    blocking_timeout: float
    symmetric_encryption_keys: list[str | bytes] | None

    ChannelFull = ChannelFull
    MessageTooLarge = MessageTooLarge

    def __init__(self, **options: Any) -> None:
        """Check ``options`` against :attr:`options` (ImproperlyConfigured naming the key) and
        set each option, given or default, as an attribute."""
        for name, value in self.options.resolve(options, type(self).__name__).items():
            setattr(self, name, value)
        self.capacity_for = CapacityLookup(self.capacity, self.channel_capacity)
        #: Seals and opens message bodies when ``symmetric_encryption_keys`` is set.
        self.cipher: SymmetricCipher | None = None
        if self.symmetric_encryption_keys is not None:
            self.cipher = SymmetricCipher(self.symmetric_encryption_keys)
        #: Unique to this instance: the part before ``!`` of every name its new_channel makes.
        self.client_id = random_token()
        self._rng = random.Random(os.urandom(16))  # private: random.seed() cannot touch it
        # Results taken for a cancelled receive_async: (channel, payload, parked_at).
        self._parked: deque[tuple[str, bytes, float]] = deque()
        # Steps of cancelled receives still running (see _cancel_safe).
        self._finishing: set[asyncio.Future[None]] = set()
        self._session_store: SessionStore | None = None
        self._closed = False

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, **config: Any) -> BaseChannelLayer:
        """Build from a connection string; ``?key=value`` options override ``config``."""
        url, options = cls.options.split_url(url)
        if "url" in cls.options:
            options["url"] = url
        return cls(**{**config, **options})

    # -- the core API -------------------------------------------------------------------------

    def send(self, channel: str, message: Message) -> None:
        """Store ``message`` on ``channel``; raises ChannelFull / MessageTooLarge, never blocks."""
        self._send(*self._outgoing(channel, message))

    def _outgoing(self, channel: str, message: Message) -> tuple[str, bytes]:
        """What a send stores, after its checks in order: the layer is open, ``channel`` is a
        valid name, ``message`` is valid and within ``message_size_limit`` (:meth:`encode`)."""
        if self._closed:
            self._check_open()
        return check_channel_name(channel), self.encode(message)

    def encode(self, message: Message) -> bytes:
        """``message`` as this layer sends it: validated (``TypeError``/``ValueError`` naming
        the key path) and within ``message_size_limit`` (else ``MessageTooLarge``).

        With :meth:`send_encoded` and :meth:`send_group_encoded` it lets a caller check and
        snapshot a message now and send it later without encoding it twice (the worker does
        this with a consumer's sends).
        """
        payload = codec.encode(message, self.message_size_limit)
        if self.cipher is not None:
            return self.cipher.encrypt(payload)
        return payload

    def send_encoded(self, channel: str, payload: bytes) -> None:
        """:meth:`send` for a ``payload`` that :meth:`encode` of this layer returned."""
        if self._closed:
            self._check_open()
        self._send(check_channel_name(channel), payload)

    def receive(self, channels: Iterable[str], block: bool = False) -> Received:
        """The next message of one of ``channels``: ``(channel, message)`` or ``(None, None)``."""
        if self._closed:
            self._check_open()
        names = self._receive_order(channels)
        if not names:
            return None, None
        raw = (self._parked and self._take_parked(names)) or self._receive(names, bool(block))
        return self._decoded(raw)

    def receive_many(self, channels: Iterable[str], block: bool = False) -> Received:
        """Deprecated alias of :meth:`receive` (ASGI 1.0 drafts)."""
        return self.receive(channels, block)

    def new_channel(self, pattern: str) -> str:
        """A new channel name not in use, for a pattern ending in ``?`` or ``!``.

        ``"reply?"`` gives ``"reply?<random>"``; ``"ws.send!"`` gives
        ``"ws.send.<client_id>!<random>"``, whose part up to the ``!`` is unique to this instance,
        so only this instance receives it (by asking ``receive`` for that prefix).
        """
        candidates = self._new_channel_candidates(pattern)
        while True:
            name = next(candidates)
            if not self._channel_in_use(name):
                return name

    def _new_channel_candidates(self, pattern: str) -> Iterator[str]:
        """After checking the layer is open and ``pattern`` is valid: endless fresh names for
        it (the caller takes the first not in use)."""
        self._check_open()
        reserved = TOKEN_LENGTH + (0 if str(pattern).endswith("?") else TOKEN_LENGTH + 1)
        pattern = check_new_channel_pattern(pattern, reserved)
        while True:
            if pattern.endswith("?"):
                yield pattern + random_token()
            else:
                body = pattern[:-1]
                yield f"{body}{'.' if body else ''}{self.client_id}!{random_token()}"

    # -- groups extension ---------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (idempotent; refreshes the membership's expiry)."""
        self._group_add(*self._membership(group, channel))

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; does nothing if it is not a member."""
        self._group_discard(*self._membership(group, channel))

    def _membership(self, group: str, channel: str) -> tuple[str, str]:
        """``(group, channel)`` after checking the layer is open and both names are valid."""
        self._check_open()
        return check_group_name(group), check_channel_name(channel)

    def group_channels(self, group: str) -> list[str]:
        """The live (unexpired) members of ``group``."""
        self._check_open()
        return self._group_channels(check_group_name(group))

    def send_group(self, group: str, message: Message) -> None:
        """Send to every member; full members are skipped and counted, never ChannelFull."""
        self._send_group(*self._outgoing_group(group, message))

    def _outgoing_group(self, group: str, message: Message) -> tuple[str, bytes]:
        """What a group send stores, after its checks in order: the layer is open, ``group``
        is a valid name, ``message`` is valid and within ``message_size_limit``."""
        self._check_open()
        return check_group_name(group), self.encode(message)

    def send_group_encoded(self, group: str, payload: bytes) -> None:
        """:meth:`send_group` for a ``payload`` that :meth:`encode` of this layer returned."""
        self._check_open()
        self._send_group(check_group_name(group), payload)

    # -- flush and statistics extensions ------------------------------------------------------

    def flush(self) -> None:
        """Remove every message and group of this layer's ``prefix``, and nothing else."""
        self._check_open()
        self._parked.clear()
        self._flush()

    def global_statistics(self) -> Statistics:
        self._check_open()
        return self._global_statistics()

    def channel_statistics(self, channel: str) -> Statistics:
        self._check_open()
        return self._channel_statistics(check_channel_name(channel))

    # -- asyncio and twisted extensions -------------------------------------------------------

    async def receive_async(self, channels: Iterable[str]) -> Received:
        """Like ``receive(channels, block=True)`` without blocking the event loop (the ASGI 1.0
        ``asyncio`` extension).

        Cancelling it never loses a message: one taken after the caller was cancelled is kept
        and returned first by the next ``receive`` or ``receive_async`` on these channels.
        """
        self._check_open()
        names = self._receive_order(channels)
        if not names:
            return None, None
        return self._decoded(await self._next_raw_async(names))

    def receive_twisted(self, channels: Iterable[str]) -> Any:
        """Like ``receive(channels, block=True)`` as a Twisted ``Deferred`` (the ASGI 1.0
        ``twisted`` extension): returns at once, never blocks the reactor, and fires in the
        reactor thread with ``(channel, message)``, or ``(None, None)`` after
        ``blocking_timeout``.

        It runs :meth:`receive_async`'s machinery on one background event loop per process
        (:mod:`channels_core.twisted_receive`). Cancelling the Deferred never loses a message.
        Twisted is optional; it is imported on the first call.
        """
        self._check_open()
        names = self._receive_order(channels)
        if not names:
            return twisted_receive.immediate((None, None))
        return twisted_receive.deferred_receive(
            self._next_raw_async(names), self._decoded, lambda raw: self.park(*raw)
        )

    # -- the core API and groups as coroutines (Channels 4's API is built on these) -----------
    #
    # Each makes exactly the checks of its synchronous twin, with the same code (and so raises
    # the same errors), then awaits the backend's async I/O hook. A hook's default runs the
    # synchronous hook on the event loop's default executor, or inline if the layer declares
    # ``inline_io``; a backend with an asyncio client overrides it.

    async def send_async(self, channel: str, message: Message) -> None:
        """:meth:`send` without blocking the event loop: the same checks and errors
        (``ChannelFull``, ``MessageTooLarge``, an invalid name), raised before anything is
        stored."""
        await self._send_async(*self._outgoing(channel, message))

    async def send_group_async(self, group: str, message: Message) -> None:
        """:meth:`send_group` without blocking the event loop."""
        await self._send_group_async(*self._outgoing_group(group, message))

    async def group_add_async(self, group: str, channel: str) -> None:
        """:meth:`group_add` without blocking the event loop."""
        await self._group_add_async(*self._membership(group, channel))

    async def group_discard_async(self, group: str, channel: str) -> None:
        """:meth:`group_discard` without blocking the event loop."""
        await self._group_discard_async(*self._membership(group, channel))

    async def new_channel_async(self, pattern: str) -> str:
        """:meth:`new_channel` without blocking the event loop."""
        candidates = self._new_channel_candidates(pattern)
        while True:
            name = next(candidates)
            if not await self._channel_in_use_async(name):
                return name

    async def flush_async(self) -> None:
        """:meth:`flush` without blocking the event loop."""
        self._check_open()
        self._parked.clear()
        await self._io_async(self._flush)

    async def close_async(self) -> None:
        """:meth:`close` without blocking the event loop."""
        if not self._closed:
            await self._io_async(self.close)

    async def _next_raw_async(self, names: list[str]) -> RawReceived:
        parked = self._take_parked(names)
        if parked is not None:
            return parked
        return await self._receive_async(names)

    # -- sessions -----------------------------------------------------------------------------

    def session_store(self) -> SessionStore:
        """The store ``channel_session`` uses by default for this layer (one per layer object).

        Network backends keep it on their own server (under this layer's ``prefix``), so every
        process sharing the layer shares sessions; the base class keeps it in memory.
        """
        if self._session_store is None:
            self._session_store = self._make_session_store()
        return self._session_store

    def _make_session_store(self) -> SessionStore:
        return InMemorySessionStore()

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Release connections and threads. Idempotent; the layer is unusable afterwards."""
        if not self._closed:
            self._closed = True
            if self._session_store is not None:
                self._session_store.close()
            self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> BaseChannelLayer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"

    # -- hooks a backend implements -----------------------------------------------------------

    def _send(self, channel: str, payload: bytes) -> None:
        """Store the encoded message atomically with the capacity check (``self.capacity_for``
        on ``names.inbox_name(channel)``); raise ``ChannelFull`` at capacity."""
        raise NotImplementedError

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        """Take one payload from the first non-empty of ``channels`` (already in fair order).

        ``!`` entries are inbox prefixes; return the full channel name. Wait up to
        ``self.blocking_timeout`` if ``block``. Never return an expired message.
        """
        raise NotImplementedError

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        """:meth:`_receive` with ``block=True`` as a coroutine that never blocks the event loop.

        Cancelling it must never lose a message: await every step that may take one off the
        server through :meth:`_cancel_safe` (a task per step), or, if a step in flight can be
        finished where a cancellation stopped it, finish it (and park what it took) before
        the cancellation goes on. Waiting for a wake-up is safe to cancel; a step that takes
        synchronously, under a lock, needs nothing. Default: the blocking receive on a
        worker thread, as one :meth:`_cancel_safe` step.
        """
        loop = asyncio.get_running_loop()
        return await self._cancel_safe(loop.run_in_executor(None, self._receive, channels, True))

    #: Whether the synchronous I/O hooks never wait on anything but a short lock of this
    #: process (the layer's data lives in memory): the ``*_async`` methods then call them
    #: inline, without a worker thread's round trip.
    inline_io: ClassVar[bool] = False

    async def _io_async(self, hook: Callable[..., T], *args: Any) -> T:
        """Call a synchronous hook from a coroutine: inline if :attr:`inline_io`, else on the
        event loop's default executor (the loop keeps running meanwhile)."""
        if self.inline_io:
            return hook(*args)
        return await asyncio.get_running_loop().run_in_executor(None, hook, *args)

    async def _send_async(self, channel: str, payload: bytes) -> None:
        """:meth:`_send` as a coroutine that never blocks the event loop (same guarantees)."""
        await self._io_async(self._send, channel, payload)

    async def _send_group_async(self, group: str, payload: bytes) -> None:
        """:meth:`_send_group` as a coroutine that never blocks the event loop."""
        await self._io_async(self._send_group, group, payload)

    async def _group_add_async(self, group: str, channel: str) -> None:
        """:meth:`_group_add` as a coroutine that never blocks the event loop."""
        await self._io_async(self._group_add, group, channel)

    async def _group_discard_async(self, group: str, channel: str) -> None:
        """:meth:`_group_discard` as a coroutine that never blocks the event loop."""
        await self._io_async(self._group_discard, group, channel)

    async def _channel_in_use_async(self, name: str) -> bool:
        """:meth:`_channel_in_use` as a coroutine that never blocks the event loop."""
        return await self._io_async(self._channel_in_use, name)

    # Naming: a coroutine that has a blocking counterpart is named like it plus ``_async``
    # (``receive`` / ``receive_async``, a backend's ``execute`` / ``execute_async``).

    async def _cancel_safe(
        self, step: Awaitable[RawReceived], on_cancel: Callable[[], object] | None = None
    ) -> RawReceived:
        """Await ``step`` (a coroutine or future that may take a message off the server) so
        that cancelling the caller never loses a message: the step runs to its end as a task
        of its own, and what it takes after the caller went away is parked (:meth:`park`), to
        be returned first by the next receive on its channel. ``on_cancel`` (if given) is
        called when the caller is cancelled, to ask the step to finish early.

        The step's task hands its result straight to the caller's future (one event-loop
        pass from the step's end to the caller, where ``shield`` takes two)."""
        outcome: asyncio.Future[RawReceived] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._step_into(step, outcome))
        try:
            return await outcome
        except asyncio.CancelledError:
            if outcome.done() and not outcome.cancelled() and outcome.exception() is None:
                result = outcome.result()  # taken, but the caller was cancelled meanwhile
                if result is not None:
                    self.park(*result)
            elif not task.done():
                if on_cancel is not None:
                    on_cancel()
                self._keep_until_done(task)
            raise

    def _keep_until_done(self, task: asyncio.Future[None]) -> None:
        """Hold a reference to ``task`` (the event loop keeps only weak ones) until it ends."""
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _step_into(
        self, step: Awaitable[RawReceived], outcome: asyncio.Future[RawReceived]
    ) -> None:
        """Await ``step`` and give its outcome to ``outcome``; park what it took if
        ``outcome`` was cancelled (its caller went away)."""
        try:
            result = await step
        except asyncio.CancelledError:
            outcome.cancel()
            raise
        except BaseException as error:
            if not outcome.done():
                outcome.set_exception(error)
            return
        if outcome.cancelled():
            if result is not None:
                self.park(*result)
        else:
            outcome.set_result(result)

    def _channel_in_use(self, name: str) -> bool:
        """Whether ``name`` already holds messages or group memberships (for new_channel)."""
        return False

    def _group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_channels(self, group: str) -> list[str]:
        raise NotImplementedError

    def _send_group(self, group: str, payload: bytes) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _global_statistics(self) -> Statistics:
        raise NotImplementedError

    def _channel_statistics(self, channel: str) -> Statistics:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the backend's resources (called once)."""

    # -- helpers for the hooks ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LayerClosed(f"{self!r} is closed")

    def _receive_order(self, channels: Iterable[str]) -> list[str]:
        names = check_receive_names(channels)
        if len(names) > 1:
            names = list(dict.fromkeys(names))
            self._rng.shuffle(names)  # fairness: no channel always polled first
        return names

    def _decoded(self, raw: RawReceived) -> Received:
        if raw is None:
            return None, None
        channel, payload = raw
        try:
            if self.cipher is not None:
                payload = self.cipher.decrypt(payload)
            return channel, codec.decode(payload)
        except MalformedMessage as error:  # the same type (DecryptionError...), naming the channel
            raise type(error)(f"channel {channel!r} held {error}") from None

    def park(self, channel: str, payload: bytes) -> None:
        """Keep a message taken for a caller that went away (e.g. a cancelled receive_async);
        the next receive on its channel returns it first. Parked messages still expire."""
        self._parked.append((channel, payload, time.monotonic()))

    def _take_parked(self, names: list[str]) -> RawReceived:
        if not self._parked:
            return None
        stale_before = time.monotonic() - self.expiry
        while self._parked and self._parked[0][2] <= stale_before:
            self._parked.popleft()
        for index, (channel, payload, _) in enumerate(self._parked):
            if inbox_name(channel) in names:
                del self._parked[index]
                return channel, payload
        return None
