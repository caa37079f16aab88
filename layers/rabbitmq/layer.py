"""``RabbitMQChannelLayer``: the contract on RabbitMQ 3.x through pika (see the package
docstring for the manual)."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Generator
from functools import partial
from typing import Any, ClassVar

from channels_core.exceptions import ChannelFull, ImproperlyConfigured
from channels_core.inbox import ProcessInbox
from channels_core.layer import RECEIVE_EXTENSIONS, BaseChannelLayer, RawReceived
from channels_core.names import inbox_name
from channels_core.options import Option, OptionTable, integer, number, optional, text
from channels_core.session_store import SessionStore
from channels_core.statistics import Statistics

from . import ledger
from .connection import (
    CHANNEL_ERRORS,
    NOT_FOUND,
    PRECONDITION_FAILED,
    AsyncLink,
    Link,
    Nacked,
    Unroutable,
    connection_parameters,
    properties,
    reply_code,
)
from .consumer import Receiver
from .rosters import micros

#: AMQP's prefetch-count is a 16-bit field.
MAX_PREFETCH = 65535
#: Longest ``socket_timeout`` / ``connect_timeout`` (seconds).
MAX_SOCKET_TIMEOUT = 3600.0
#: Roster queues (``!`` memberships) live this long unused (milliseconds).
ROSTER_EXPIRES_MS = 2 * 86400 * 1000
#: The dead-letter queue keeps at most this many expired messages (oldest dropped first).
DEAD_LETTER_LIMIT = 10_000
#: A send_group looks at the dead-letter queue at most this often (seconds).
EVICTION_CHECK = 1.0
#: Links idle longer than this are checked (non-blocking) before use: a broker restart is
#: noticed before a publish, instead of failing it.
IDLE_CHECK = 1.0

#: The steps of a send (:meth:`RabbitMQChannelLayer._send_plan`): declare its queue, publish.
DECLARE = "declare"
PUBLISH = "publish"
SendPlan = Generator[tuple[str, str, Any], None, None]

#: Longest wait of an async receive on the socket before it looks again (seconds).
ASYNC_RECHECK = 0.05

#: Wait of an async receive while the receiver's pump thread holds the connection (seconds).
PUMP_YIELD = 0.002


class _Readable:
    """Coroutines of one event loop waiting for one socket to become readable: one reader
    callback wakes them all, and is removed then or when the last one stops waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop, self.fd = loop, fd
        self.woken = False
        self._waiters: list[asyncio.Future[None]] = []
        loop.add_reader(fd, self._wake)

    def _wake(self) -> None:
        if not self.woken:
            self.woken = True
            self.loop.remove_reader(self.fd)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._wake()


def _pika_url_key(key: str) -> bool:
    """Query options pika's URL parser reads itself (left in the URL for it)."""
    return key in _PIKA_URL_KEYS


_PIKA_URL_KEYS = frozenset(
    (
        "channel_max",
        "client_properties",
        "frame_max",
        "locale",
        "ssl_options",
        "tcp_options",
        "retry_delay",
    )
)


def _delete_queue(channel: Any, queue: str) -> None:
    channel.queue_delete(queue)


def _delete_exchange(channel: Any, exchange: str) -> None:
    channel.exchange_delete(exchange)


class RabbitMQChannelLayer(BaseChannelLayer):
    """The channel-layer contract on RabbitMQ; see :mod:`layers.rabbitmq`."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", *RECEIVE_EXTENSIONS]
    options: ClassVar[OptionTable] = BaseChannelLayer.options.extend(
        Option("url", None, optional(text), doc="amqp:// or amqps:// connection string"),
        Option(
            "prefetch",
            100,
            integer(1, MAX_PREFETCH),
            int,
            "messages a consumer may hold unacknowledged (AMQP's 16-bit prefetch-count)",
        ),
        Option("heartbeat", 30, integer(0, 3600), int, "AMQP heartbeat seconds (0: none)"),
        Option("socket_timeout", 5.0, number(maximum=MAX_SOCKET_TIMEOUT), float),
        Option("connect_timeout", 10.0, number(maximum=MAX_SOCKET_TIMEOUT), float),
        Option(
            "queue_expires",
            None,
            optional(number()),
            float,
            "seconds an unused queue lives (default max(2 * expiry, group_expiry) + 60)",
        ),
        client_url_keys=_pika_url_key,
    )

    url: str | None
    prefetch: int
    heartbeat: int
    socket_timeout: float
    connect_timeout: float
    queue_expires: float | None

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url=url, **options)
        expires = self.queue_expires
        if expires is None:
            expires = max(2 * self.expiry, self.group_expiry) + 60
        if expires <= self.expiry:
            raise ImproperlyConfigured(
                f"queue_expires must exceed expiry ({self.expiry!r}): a queue must outlive its "
                f"messages, got {expires!r}"
            )
        self._queue_expires: float = expires
        if len(self.prefix) > 100 or self.prefix.startswith("amq."):
            raise ImproperlyConfigured(
                f"prefix {self.prefix!r}: at most 100 characters, not starting with 'amq.' "
                "(RabbitMQ reserves it)"
            )
        self._params = connection_parameters(
            self.url,
            socket_timeout=self.socket_timeout,
            connect_timeout=self.connect_timeout,
            heartbeat=self.heartbeat,
        )
        self._ns = self.prefix.replace(":", "::") + ":"
        self._ledger = self._ns + "#ledger"
        self._dlx = self._ns + "#dlx"
        self._dead = self._ns + "#expired"
        self._expiry_ms = int(self.expiry * 1000)
        self._links = threading.local()
        self._all_links: list[Link] = []
        self._links_lock = threading.Lock()
        #: per event loop: the wait of its async receives for the consume socket
        self._socket_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Readable] = (
            weakref.WeakKeyDictionary()
        )
        #: one :class:`AsyncLink` per event loop that sends (``send_async``)
        self._async_links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncLink] = (
            weakref.WeakKeyDictionary()
        )
        #: queue -> when this process declares (and records) it again
        self._declared: dict[str, float] = {}
        self._recorded_exchanges: dict[str, float] = {}
        self._dead_letter_ready = 0.0
        self._ledger_ready = False
        #: group -> members known from the last ledger read and this process's own changes
        self._members: dict[str, dict[str, float]] = {}
        self._group_due = 0.0  # when a send_group must read the ledger first
        self._housekeeping_lock = threading.Lock()
        self._housekeepings = 0  # completed in this process (see _housekeeping_unless_done)
        self._eviction_check = 0.0
        self._sent: dict[str, int] = {}
        self._full: dict[str, int] = {}
        self._own_inboxes: set[str] = set()
        self._inbox = ProcessInbox(self.capacity_for)
        self._receiver = Receiver(
            Link(self._params, timeout=self.socket_timeout),
            prefetch=self.prefetch,
            inbox=self._inbox,
            expiry=self.expiry,
            capacity_for=self.capacity_for,
            queue_of=self._queue,
            roster_of=self._roster,
            declare=self._ensure_queue,
            declare_roster=self._declare_roster,
            park=self.park,
        )

    # -- names ----------------------------------------------------------------------------------

    def _queue(self, name: str) -> str:
        """The queue of a channel name or inbox prefix (``!`` channels share their inbox's)."""
        return self._ns + inbox_name(name)

    def _roster(self, inbox: str) -> str:
        return self._ns + "#roster." + inbox

    def _exchange(self, group: str) -> str:
        return self._ns + "#g." + group

    def _arguments(self, name: str) -> dict[str, Any]:
        return {
            "x-max-length": self.capacity_for(inbox_name(name)),
            "x-overflow": "reject-publish",
            "x-message-ttl": self._expiry_ms,
            "x-expires": int(self._queue_expires * 1000),
            "x-dead-letter-exchange": self._dlx,
        }

    # -- links ----------------------------------------------------------------------------------

    def _link(self) -> Link:
        """This thread's link for sends and administration (pika is not thread-safe)."""
        link: Link | None = getattr(self._links, "link", None)
        if link is None:
            self._check_open()
            link = Link(self._params, timeout=self.socket_timeout)
            self._links.link = link
            self._links.used = 0.0
            with self._links_lock:
                self._all_links.append(link)
        now = time.monotonic()
        if now - self._links.used > IDLE_CHECK:
            link.check()
        self._links.used = now
        return link

    def _async_link(self) -> AsyncLink:
        """The running event loop's link for async sends."""
        loop = asyncio.get_running_loop()
        link = self._async_links.get(loop)
        if link is None:
            self._check_open()
            for other_loop, other in list(self._async_links.items()):
                if other_loop.is_closed():  # e.g. asyncio.run() per call: its socket stays
                    other.abandon()
                    del self._async_links[other_loop]
            link = self._async_links[loop] = AsyncLink(self._params, timeout=self.socket_timeout)
        return link

    # -- declarations ---------------------------------------------------------------------------

    def _ensure_queue(self, link: Link, queue: str, name: str, force: bool = False) -> None:
        """Declare ``queue`` (for channel ``name``) and record it in the ledger, once per
        ``queue_expires / 3`` per process (re-declaring keeps an idle queue alive)."""
        now = time.monotonic()
        if not force and self._declared.get(queue, 0.0) > now:
            return
        arguments = self._arguments(name)
        try:
            link.run(lambda ch: ch.queue_declare(queue, arguments=arguments))
        except CHANNEL_ERRORS as error:
            if reply_code(error) != PRECONDITION_FAILED:
                raise
            # Declared by a layer with other options: it keeps them until it is deleted.
            link.run(lambda ch: ch.queue_declare(queue, passive=True))
        self._record(link, "q", queue, self._queue_expires + 60)
        if "!" in name:  # an inbox: its roster (the ! memberships its owner fans out to)
            roster = self._roster(inbox_name(name))
            link.run(lambda ch: self._declare_roster(ch, roster))
            self._record(link, "q", roster, ROSTER_EXPIRES_MS / 1000 + 60)
        self._declared[queue] = now + self._queue_expires / 3

    def _declare_roster(self, channel: Any, roster: str) -> Any:
        """Declare an inbox's roster queue; the broker's reply (with its message count)."""
        return channel.queue_declare(roster, arguments={"x-expires": ROSTER_EXPIRES_MS})

    def _declare_ledger(self, channel: Any, queue: str) -> None:
        """Declare the ledger or its lock queue (see :mod:`.ledger`)."""
        channel.queue_declare(queue, arguments={"x-expires": int(self._queue_expires * 2000)})

    def _record(self, link: Link, kind: str, name: str, lapse: float, group: str = "") -> None:
        if not self._ledger_ready:
            link.run(lambda ch: self._declare_ledger(ch, self._ledger))
            self._ledger_ready = True
        ledger.append(
            link, self._ledger, ledger.encode(kind, name, group, lapse), self._declare_ledger
        )

    def _ensure_dead_letters(self, link: Link) -> None:
        """The prefix's dead-letter exchange and queue: messages that expire unread land
        there, so their channels can be evicted from their groups."""
        now = time.monotonic()
        if self._dead_letter_ready > now:
            return

        arguments = {
            "x-max-length": DEAD_LETTER_LIMIT,
            "x-message-ttl": int(self.group_expiry * 1000),
            "x-expires": int(self._queue_expires * 1000),
        }
        link.run(lambda ch: ch.exchange_declare(self._dlx, "fanout"))
        link.run(lambda ch: ch.queue_declare(self._dead, arguments=arguments))
        link.run(lambda ch: ch.queue_bind(self._dead, self._dlx))
        self._record(link, "q", self._dead, self._queue_expires + 60)
        self._record(link, "x", self._dlx, self._queue_expires + 60)
        self._dead_letter_ready = now + self._queue_expires / 3

    # -- send -----------------------------------------------------------------------------------

    def _publish(self, link: Link, exchange: str, queue: str, body: bytes, props: Any) -> None:
        link.run(
            lambda ch: ch.basic_publish(exchange, queue, body, props, mandatory=True), applies=True
        )

    def _send(self, channel: str, payload: bytes) -> None:
        link = self._link()
        plan = self._send_plan(channel, payload)
        reply: Exception | None = None
        try:
            while True:
                step = plan.send(None) if reply is None else plan.throw(reply)
                reply = None
                try:
                    if step[0] == DECLARE:
                        self._ensure_queue(link, step[1], channel, force=True)
                    else:
                        self._publish(link, "", step[1], payload, step[2])
                except (Unroutable, Nacked) as error:
                    reply = error
        except StopIteration:
            return

    async def _send_async(self, channel: str, payload: bytes) -> None:
        """:meth:`_send` on this event loop's :class:`AsyncLink`: the publish and its confirm
        never block the loop, and concurrent sends overlap their confirms. A queue that needs
        declaring (once per ``queue_expires / 3``) is declared on a worker thread."""
        link = self._async_link()
        plan = self._send_plan(channel, payload)
        reply: Exception | None = None
        try:
            while True:
                step = plan.send(None) if reply is None else plan.throw(reply)
                reply = None
                try:
                    if step[0] == DECLARE:
                        await self._io_async(self._declare_here, step[1], channel)
                    else:
                        await link.publish("", step[1], payload, step[2])
                except (Unroutable, Nacked) as error:
                    reply = error
        except StopIteration:
            return

    def _send_plan(self, channel: str, payload: bytes) -> SendPlan:
        """One send's decisions, for :meth:`_send` and :meth:`_send_async`: yields
        ``(DECLARE, queue, None)`` (declare the queue now) and ``(PUBLISH, queue,
        properties)`` (publish the payload, wait for its confirm), and is thrown
        ``Unroutable`` or ``Nacked`` when a publish comes back so."""
        queue = self._queue(channel)
        if self._declared.get(queue, 0.0) <= time.monotonic():
            yield DECLARE, queue, None
        props = properties(type=channel if "!" in channel else None, timestamp=micros(time.time()))
        try:
            try:
                yield PUBLISH, queue, props
            except Unroutable:  # the queue was deleted (flush elsewhere, idle expiry)
                yield DECLARE, queue, None
                yield PUBLISH, queue, props
        except Nacked:
            self._full[queue] = self._full.get(queue, 0) + 1
            raise ChannelFull(
                f"channel {channel!r} is at its capacity ({self.capacity_for(inbox_name(channel))})"
            ) from None
        self._sent[queue] = self._sent.get(queue, 0) + 1

    def _declare_here(self, queue: str, channel: str) -> None:
        """Declare ``queue`` (for ``channel``) on this thread's link."""
        self._ensure_queue(self._link(), queue, channel, force=True)

    # -- receive --------------------------------------------------------------------------------

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        self._evict(self._inbox.expired_channels())
        return self._receiver.take(channels, block, self.blocking_timeout)

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        """On the loop while that needs no round trip: a message already pushed to this
        process is taken at once, and an empty wait watches the consume connection's socket
        (at most :data:`ASYNC_RECHECK` seconds at a time: another thread may have read what
        came), or asks again after :data:`PUMP_YIELD` while the pump thread holds the
        connection. A take that needs round trips (the first on a channel starts its consumer)
        runs the blocking receive on a worker thread, as one cancel-safe step."""
        expired = self._inbox.expired_channels()
        if expired:
            await self._io_async(self._evict, expired)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.blocking_timeout
        receiver = self._receiver
        while True:
            taken = receiver.take_ready(channels)
            if taken == "blocking":
                remaining = max(0.0, deadline - loop.time())
                take = partial(receiver.take, channels, True, remaining)
                return await self._cancel_safe(loop.run_in_executor(None, take))
            if taken != "wait" and taken != "busy":
                return taken
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            if taken == "busy":
                await asyncio.sleep(min(remaining, PUMP_YIELD))
            else:
                await self._socket_readable(loop, min(remaining, ASYNC_RECHECK))

    async def _socket_readable(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Return when the consume connection's socket is readable, or after ``seconds``."""
        watch = self._socket_watches.get(loop)
        if watch is None or watch.woken:
            fd = self._receiver.fileno()
            if fd is None:
                await asyncio.sleep(seconds)
                return
            watch = self._socket_watches[loop] = _Readable(loop, fd)
        await watch.wait(seconds)

    def _evict(self, names: list[str]) -> None:
        """``!`` channels whose messages expired in this process's buffers leave their
        groups (``names`` from ``ProcessInbox.expired_channels``)."""
        if names:
            link = self._link()
            for name in names:
                self._record(link, "e", name, self.group_expiry)
            self._group_due = 0.0

    def _channel_in_use(self, name: str) -> bool:
        # Every name new_channel hands out (sync or async) passes here: note this object's
        # inboxes (deleted at close) and connect the receiver ahead for the first one.
        inbox = self._new_inbox(name)
        if inbox is not None:
            self._own_inboxes.add(inbox)
            self._receiver.prepare()
        return False  # names carry 12 random characters from the OS: a repeat is not a risk

    async def _channel_in_use_async(self, name: str) -> bool:
        """:meth:`_channel_in_use` on the loop, where it does no I/O: only the first name of
        an inbox (which connects the receiver ahead) goes to a worker thread."""
        if self._new_inbox(name) is not None:
            return await self._io_async(self._channel_in_use, name)
        return False

    def _new_inbox(self, name: str) -> str | None:
        """The inbox of ``name`` if it is a ``!`` name of an inbox this object has not named
        before (else None)."""
        if "!" not in name:
            return None
        inbox = inbox_name(name)
        return None if inbox in self._own_inboxes else inbox

    def _owns(self, inbox: str) -> bool:
        """Whether ``inbox`` is one of this object's (new_channel puts its client id last)."""
        return inbox[:-1].rpartition(".")[2] == self.client_id

    # -- groups ---------------------------------------------------------------------------------

    def _group_add(self, group: str, channel: str) -> None:
        link = self._link()
        done = self._housekeepings
        if self._group_due == 0.0:
            self._housekeeping_unless_done(link, done)
        self._ensure_dead_letters(link)
        exchange = self._exchange(group)
        queue = self._queue(channel)
        self._ensure_queue(link, queue, channel)
        if "!" in channel:
            self._tell_roster(link, "a", group, channel)
        # An exchange this process declared lately is bound to at once; if it was deleted
        # meanwhile (it lost its last binding), the bind fails and both are declared again.
        now = time.monotonic()
        declared = self._recorded_exchanges.get(exchange, 0.0) > now
        for attempt in range(2):
            try:
                if attempt or not declared:
                    link.run(lambda ch: ch.exchange_declare(exchange, "fanout", auto_delete=True))
                link.run(lambda ch: ch.queue_bind(queue, exchange))
                break
            except CHANNEL_ERRORS as error:
                if reply_code(error) != NOT_FOUND or attempt:
                    raise
                self._ensure_queue(link, queue, channel, force=True)
        if self._recorded_exchanges.get(exchange, 0.0) <= now:
            self._record(link, "x", exchange, self.group_expiry + 60)
            self._recorded_exchanges[exchange] = now + self.group_expiry / 3
        self._record(link, "a", channel, self.group_expiry, group)
        self._members.setdefault(group, {})[channel] = time.time() + self.group_expiry

    def _tell_roster(self, link: Link, kind: str, group: str, channel: str) -> None:
        """Tell the owner of ``channel``'s inbox that it joined (``a``) or left (``d``)
        ``group``: directly when the owner is this layer object, else through the inbox's
        roster queue (nothing to tell if that queue is gone: so is the inbox)."""
        inbox = inbox_name(channel)
        now = time.time()
        if self._owns(inbox):
            rosters = self._receiver.rosters
            if kind == "a":
                rosters.add(inbox, group, channel, now, now + self.group_expiry)
            else:
                rosters.discard(inbox, group, channel, now)
            return
        roster = self._roster(inbox)
        body = ledger.encode(kind, channel, group, self.group_expiry if kind == "a" else 0.0)
        try:
            self._publish(link, "", roster, body, properties(delivery_mode=1))
        except Unroutable:
            if kind != "a":
                return
            link.run(lambda ch: self._declare_roster(ch, roster))
            self._record(link, "q", roster, ROSTER_EXPIRES_MS / 1000 + 60)
            self._publish(link, "", roster, body, properties(delivery_mode=1))

    def _group_discard(self, group: str, channel: str) -> None:
        link = self._link()
        self._record(link, "d", channel, self.group_expiry, group)
        self._end_membership(link, group, channel)
        members = self._members.get(group)
        if members is not None:
            members.pop(channel, None)

    def _end_membership(self, link: Link, group: str, channel: str) -> None:
        """Stop a member's deliveries: unbind a plain queue, or tell an inbox's roster."""
        if "!" in channel:
            self._tell_roster(link, "d", group, channel)
            return
        try:
            link.run(lambda ch: ch.queue_unbind(self._queue(channel), self._exchange(group)))
        except CHANNEL_ERRORS as error:
            if reply_code(error) != NOT_FOUND:
                raise

    def _group_channels(self, group: str) -> list[str]:
        snapshot = self._housekeeping(self._link())
        return sorted(snapshot.members.get(group, {}))

    def _send_group(self, group: str, payload: bytes) -> None:
        link = self._link()
        done = self._housekeepings
        now = time.monotonic()
        if now >= self._group_due or (now >= self._eviction_check and self._has_dead_letters(link)):
            self._housekeeping_unless_done(link, done)
        props = properties(type="#" + group, timestamp=micros(time.time()))
        full: set[str] = set()
        try:
            link.run(
                lambda ch: ch.basic_publish(self._exchange(group), "", payload, props),
                applies=True,
            )
        except Nacked:  # one member (or more) is full: the others got it
            full = self._full_queues(link, group)
        except CHANNEL_ERRORS as error:
            if reply_code(error) != NOT_FOUND:
                raise
            return  # no exchange: the group has no member
        sent, refused = self._sent, self._full
        for member in self._members.get(group, ()):
            queue = self._queue(member)
            counter = refused if queue in full else sent
            counter[queue] = counter.get(queue, 0) + 1

    def _full_queues(self, link: Link, group: str, limit: int = 256) -> set[str]:
        """The queues of ``group``'s known members that are at capacity (after a nack)."""
        queues = {self._queue(member) for member in self._members.get(group, {})}
        return {
            queue
            for queue in sorted(queues)[:limit]
            if self._ready(link, queue) >= self.capacity_for(queue[len(self._ns) :])
        }

    def _has_dead_letters(self, link: Link) -> bool:
        self._eviction_check = time.monotonic() + EVICTION_CHECK
        return self._ready(link, self._dead) > 0

    def _housekeeping_unless_done(self, link: Link, done: int) -> None:
        """:meth:`_housekeeping`, unless one completed in this process since the caller saw
        ``done`` of them: threads that find it due at once wait for one ledger read instead
        of queueing up reads (readers are serialized, each bounded by ``ledger.READ_TIMEOUT``
        including its wait: ten at once failed with ``LayerUnavailable`` on a large ledger)."""
        with self._housekeeping_lock:
            if self._housekeepings == done:
                self._housekeeping(link)

    def _housekeeping(self, link: Link) -> ledger.Snapshot:
        """Read the ledger (serialized across processes), apply evictions from the
        dead-letter queue, unbind memberships that ended, and compact the ledger."""
        started = time.time()
        self._ensure_dead_letters(link)
        with ledger.read(link, self._ledger, self._declare_ledger) as reading:
            evicted = self._take_dead_letters(link)
            snapshot = ledger.settle(reading.records, evicted, time.time())
            reading.delete(snapshot.delete)
        for group, channel in snapshot.ended:
            self._end_membership(link, group, channel)
        self._members = snapshot.members
        self._group_due = min(snapshot.next_lapse, started + self.group_expiry) - started
        self._group_due += time.monotonic()
        self._eviction_check = time.monotonic() + EVICTION_CHECK
        self._housekeepings += 1
        return snapshot

    def _take_dead_letters(self, link: Link) -> set[str]:
        """Channels whose messages expired unread (from the dead-letter queue, emptied)."""
        evicted: set[str] = set()
        for _ in range(DEAD_LETTER_LIMIT):
            try:
                method, props, _body = link.run(lambda ch: ch.basic_get(self._dead, auto_ack=True))
            except CHANNEL_ERRORS as error:
                if reply_code(error) != NOT_FOUND:
                    raise
                break
            if method is None:
                break
            headers = props.headers or {}
            queue = headers.get("x-first-death-queue")
            if isinstance(queue, bytes):
                queue = queue.decode("ascii", "replace")
            if not isinstance(queue, str) or not queue.startswith(self._ns):
                continue
            name = queue[len(self._ns) :]
            if name.endswith("!"):
                if props.type and "!" in props.type:
                    evicted.add(props.type)
                else:  # a group entry expired in an inbox: its members there are dead
                    evicted.update(
                        member
                        for members in self._members.values()
                        for member in members
                        if "!" in member and inbox_name(member) == name
                    )
            else:
                evicted.add(name)
        return evicted

    # -- flush, statistics, sessions, close -----------------------------------------------------

    def _flush(self) -> None:
        link = self._link()
        with ledger.read(link, self._ledger, self._declare_ledger) as reading:
            records = reading.records
        queues = {r.name for r in records if r.kind == "q"} | {self._dead}
        exchanges = {r.name for r in records if r.kind == "x"} | {self._dlx}

        for queue in sorted(queues):  # one call each: each one is bounded by socket_timeout
            link.run(partial(_delete_queue, queue=queue))
        for exchange in sorted(exchanges):
            link.run(partial(_delete_exchange, exchange=exchange))
        link.run(partial(_delete_queue, queue=self._ledger))
        link.run(partial(_delete_queue, queue=ledger.lock_of(self._ledger)))
        self._declared.clear()
        self._recorded_exchanges.clear()
        self._dead_letter_ready = 0.0
        self._ledger_ready = False
        self._members.clear()
        self._group_due = 0.0
        self._inbox.clear()
        self._receiver.forget_local()

    def _ready(self, link: Link, queue: str) -> int:
        """Messages ready in ``queue`` (0 if it does not exist)."""
        return link.ready(queue)

    def _pending(self, link: Link, queue: str) -> int:
        name = queue[len(self._ns) :]
        ready = self._receiver.ready(queue, name)
        if ready < 0:
            ready = self._ready(link, queue)
        return ready + self._receiver.local_pending(name)

    def _global_statistics(self) -> Statistics:
        link = self._link()
        with ledger.read(link, self._ledger, self._declare_ledger) as reading:
            records = reading.records
        queues = {r.name for r in records if r.kind == "q"}
        queues = {q for q in queues if "#" not in q[len(self._ns) :]}
        pending = sum(self._pending(link, queue) for queue in sorted(queues))
        statistics: Statistics = {
            "messages_count": sum(self._sent.values()),
            "messages_pending": pending,
            "messages_max_age": 0.0,
            "channel_full_count": sum(self._full.values()),
        }
        return self._inbox.add_to_global(statistics)

    def _channel_statistics(self, channel: str) -> Statistics:
        link = self._link()
        queue = self._queue(channel)
        statistics: Statistics = {
            "messages_count": self._sent.get(queue, 0),
            "messages_pending": self._pending(link, queue),
            "messages_max_age": 0.0,
            "channel_full_count": self._full.get(queue, 0),
        }
        return self._inbox.add_to_channel(channel, statistics)

    def _make_session_store(self) -> SessionStore:
        from .sessions import RabbitMQSessionStore

        return RabbitMQSessionStore(self._link, self._ns + "#s.", self._record, self.cipher)

    def _close(self) -> None:
        self._receiver.close()
        link = getattr(self._links, "link", None) or Link(self._params)

        try:  # this instance's inboxes: nobody else can ever receive them
            for inbox in self._own_inboxes:
                link.run(partial(_delete_queue, queue=self._queue(inbox)))
                link.run(partial(_delete_queue, queue=self._roster(inbox)))
        except Exception:
            pass
        link.close()
        with self._links_lock:
            for other in self._all_links:
                other.close()
            self._all_links.clear()
        for loop, async_link in list(self._async_links.items()):
            try:
                loop.call_soon_threadsafe(async_link.close)
            except RuntimeError:  # the loop is closed
                async_link.abandon()
        self._async_links.clear()
        self._inbox.clear()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._params.host}:{self._params.port}"
            f"{self._params.virtual_host!r} prefix={self.prefix!r}>"
        )
