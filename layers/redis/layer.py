"""``RedisChannelLayer``: the contract on Redis >= 6 (see the package docstring for the manual)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from channels_core.exceptions import (
    ChannelFull,
    LayerUnavailable,
    MalformedMessage,
    OutcomeUnknown,
)
from channels_core.inbox import ProcessInbox, address_channels
from channels_core.layer import RECEIVE_EXTENSIONS, BaseChannelLayer, RawReceived, random_token
from channels_core.names import inbox_name
from channels_core.options import (
    Option,
    OptionTable,
    anything,
    integer,
    mapping,
    number,
    optional,
    text,
)
from channels_core.session_store import SessionStore
from channels_core.statistics import Statistics

from . import scripts
from .connection import CONNECTION_ERRORS, HashRing, Shard, parse_shards

#: Longest single BLPOP: a blocking receive loops over waits this long until its deadline, so
#: a closed layer or a dead connection is noticed within it.
BLOCK_STEP = 1.0
#: BLPOP wait per shard when a blocking receive spans several shards (they are polled in turn).
MULTI_SHARD_STEP = 0.05
#: How often (seconds) a layer object asks a script for housekeeping (expiring a few due
#: queues, sampling counters) and sweeps its local ``!`` buffers.
HOUSEKEEPING_INTERVAL = 0.1
#: Most members one ``send_group`` script call delivers to, and most queues one
#: ``global_statistics`` call looks at (more take several calls, in turn): bounds how long
#: one call holds the server.
GROUP_CHUNK = 1000
#: How many due queues one housekeeping pass expires (the rest wait for the next pass).
HOUSEKEEPING_SWEEP = b"100"
#: A receive serves a ``!`` prefix from its local buffers without asking the server only if
#: it drained that prefix's inbox less than this long ago (seconds): a receiving process keeps
#: its inbox nearly empty, so a busy ``!`` channel never fills it for its neighbours, while a
#: burst already buffered is served without a round trip per message. The interval doubles
#: (up to ``MAX_DRAIN_INTERVAL``) while drains come back empty, and resets when one brings
#: messages.
DRAIN_INTERVAL = 0.002
MAX_DRAIN_INTERVAL = 0.016
#: Seconds between two measurements of the server's clock (``TIME``): a sender computes the
#: deadlines it stores with it, a receiver checks what a bare LPOP/BLPOP returned against it.
OFFSET_REFRESH = 30.0


_NEVER = (0.0, DRAIN_INTERVAL / 2)

T = TypeVar("T")
#: One call's decisions: yields ``(shard, script name or None, arguments)`` round trips, is
#: sent their replies, returns the call's result (e.g. ``RedisChannelLayer._receive_plan``).
#: ``_drive`` and ``_drive_async`` do the I/O.
Plan = Generator[tuple[Shard, str | None, tuple[Any, ...]], Any, T]
#: Longest ``socket_timeout`` / ``socket_connect_timeout`` (seconds).
MAX_SOCKET_TIMEOUT = 3600.0
#: URL query options redis-py reads itself (left in the URL for it), besides ``ssl_*``.
_REDIS_PY_URL_KEYS = frozenset(
    (
        "db",
        "socket_read_size",
        "socket_keepalive",
        "retry_on_timeout",
        "retry_on_error",
        "max_connections",
        "health_check_interval",
        "timeout",
        "protocol",
        "client_name",
        "username",
        "password",
        "sentinel_password",
        "ssl",
    )
)


def _redis_py_url_key(key: str) -> bool:
    return key in _REDIS_PY_URL_KEYS or key.startswith("ssl_")


def _escape_prefix(prefix: str) -> str:
    """The prefix as it starts every key: ``:`` doubled, so ``a`` and ``a:b`` never overlap."""
    return prefix.replace(":", "::")


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _parse(envelope: bytes, queue: str) -> tuple[int, str | None, bytes]:
    """(deadline ms, inbox entry address or None, payload) of an envelope stored on ``queue``;
    :class:`MalformedMessage` if it is not one this layer wrote there (an inbox's entries
    address channels of that inbox, a plain queue's entries name none)."""
    try:
        first = envelope.index(b":")
        second = envelope.index(b":", first + 1)
        name = envelope[first + 1 : second].decode("ascii") if second > first + 1 else None
        deadline = int(envelope[:first])
    except (ValueError, UnicodeDecodeError):
        name, deadline = "", -1
    inbox = queue[-1] == "!"
    if deadline < 0 or (
        (name is None or not name.startswith(queue) or len(name) == len(queue))
        if inbox
        else name is not None
    ):
        raise MalformedMessage(
            f"queue {queue!r} held an entry that is not one of its messages "
            f"({envelope[:40]!r}...): written by something else? It was dropped"
        )
    return deadline, name, envelope[second + 1 :]


class RedisChannelLayer(BaseChannelLayer):
    """The channel-layer contract on Redis; see :mod:`layers.redis` for features and options."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", *RECEIVE_EXTENSIONS]
    options: ClassVar[OptionTable] = BaseChannelLayer.options.extend(
        Option("url", None, optional(text)),
        Option("hosts", None, anything),
        Option("sentinels", None, anything),
        Option("service_name", None, optional(text), str),
        Option("sentinel_kwargs", None, optional(mapping)),
        Option("socket_timeout", 3.0, number(maximum=MAX_SOCKET_TIMEOUT), float),
        Option("socket_connect_timeout", 2.0, number(maximum=MAX_SOCKET_TIMEOUT), float),
        Option("connection_kwargs", None, optional(mapping)),
        Option("drain", 1000, integer(1, 1_000_000), int),
        client_url_keys=_redis_py_url_key,
    )

    url: str | None
    hosts: Sequence[object] | None
    sentinels: Sequence[object] | None
    service_name: str | None
    sentinel_kwargs: Mapping[str, Any] | None
    socket_timeout: float
    socket_connect_timeout: float
    connection_kwargs: Mapping[str, Any] | None
    drain: int

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url=url, **options)
        socket_timeout, drain = self.socket_timeout, self.drain
        configs = parse_shards(
            self.url, self.hosts, self.sentinels, self.service_name, self.sentinel_kwargs
        )
        client_options: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "socket_keepalive": True,
            **dict(self.connection_kwargs or {}),
        }
        self._shards = [Shard(config, scripts.ALL, **client_options) for config in configs]
        self._ring = HashRing([config.identity() for config in configs])
        self._single = self._shards[0] if len(self._shards) == 1 else None
        self._ns = _escape_prefix(self.prefix) + ":"
        self._ns_bytes = self._ns.encode()
        self._flush_pattern = _glob_escape(_escape_prefix(self.prefix)) + ":[^:]*"
        self._expiry_ms = int(self.expiry * 1000)
        self._group_expiry_ms = int(self.group_expiry * 1000)
        # queue -> (name, b"<capacity>:<expiry ms>:") for the send script
        self._send_args: dict[str, tuple[bytes, bytes]] = {}
        self._next_housekeeping = 0.0
        self._poll_options = f"{drain}:{4 * 1024 * 1024}:".encode()
        block = min(BLOCK_STEP, float(socket_timeout) / 2)
        self._block_step = block
        self._inbox = ProcessInbox(self.capacity_for, sweep_interval=HOUSEKEEPING_INTERVAL * 10)
        # inbox -> (when it is due for draining again, current interval)
        self._drained: dict[str, tuple[float, float]] = {}
        self._offset = 0.0  # server clock minus local clock, seconds (measured with TIME)
        self._offset_expiry = self.expiry  # offset + expiry: a new message's deadline - now
        self._offset_due = 0.0  # when to measure the server's clock again
        self._queue_keys: dict[str, bytes] = {}
        # malformed entries this object took off its queues (the scripts count those they drop)
        self._malformed = 0
        # the rest of cancelled async receives, still finishing (see _receive_async)
        self._settling: set[asyncio.Future[None]] = set()

    # -- routing --------------------------------------------------------------------------------

    def _shard(self, queue: str) -> Shard:
        single = self._single
        if single is not None:
            return single
        return self._shards[self._ring(queue)]

    def _by_shard(self, names: list[str]) -> list[tuple[Shard, list[str]]]:
        if self._single is not None:
            return [(self._single, names)]
        grouped: dict[int, list[str]] = {}
        for name in names:
            grouped.setdefault(self._ring(name), []).append(name)
        return [(self._shards[index], group) for index, group in grouped.items()]

    def _queue_key(self, queue: str) -> bytes:
        key = self._queue_keys.get(queue)
        if key is None:
            if len(self._queue_keys) >= 65536:
                self._queue_keys.clear()
            key = self._queue_keys[queue] = self._ns_bytes + b"q:" + queue.encode()
        return key

    # -- send -----------------------------------------------------------------------------------

    def _housekeeping(self) -> bytes:
        """``HOUSEKEEPING_SWEEP`` if this call should carry the periodic upkeep, else ``b"0"``."""
        now = time.monotonic()
        if now < self._next_housekeeping:
            return b"0"
        self._next_housekeeping = now + HOUSEKEEPING_INTERVAL
        return HOUSEKEEPING_SWEEP

    def _send(self, channel: str, payload: bytes) -> None:
        self._drive(self._send_plan(channel, payload))

    async def _send_async(self, channel: str, payload: bytes) -> None:
        await self._drive_async(self._send_plan(channel, payload))

    def _send_plan(self, channel: str, payload: bytes) -> Plan[None]:
        bang = channel.find("!")
        queue = channel if bang < 0 else channel[: bang + 1]
        cached = self._send_args.get(queue)
        if cached is None:
            cached = self._send_arguments(queue)
        shard = self._single or self._shards[self._ring(queue)]
        if time.monotonic() >= self._offset_due:
            self._set_offset((yield self._shards[0], None, ("TIME",)))
        deadline = int((time.time() + self._offset_expiry) * 1000)
        if bang < 0:
            envelope = b"%d::%b" % (deadline, payload)
        else:
            envelope = b"%d:%b:%b" % (deadline, channel.encode(), payload)
        stored = yield (
            shard,
            "send",
            (self._ns_bytes, cached[0], envelope, cached[1] + self._housekeeping()),
        )
        if not stored:
            raise ChannelFull(
                f"channel {channel!r} is at its capacity of {self.capacity_for(queue)}"
            )

    def _send_arguments(self, queue: str) -> tuple[bytes, bytes]:
        if len(self._send_args) >= 65536:
            self._send_args.clear()
        cached = (queue.encode(), f"{self.capacity_for(queue)}:{self._expiry_ms}:".encode())
        self._send_args[queue] = cached
        return cached

    # -- receive: shared pieces of the sync and async paths -------------------------------------

    def _take_local(self, names: list[str], stop_at_remote: bool) -> RawReceived:
        """A buffered ``!`` message, in the fair order of ``names``.

        With ``stop_at_remote`` it stops at the first name whose messages can only be on the
        server, so that name gets its turn before later buffered ones.
        """
        inbox = self._inbox
        now = time.monotonic() if stop_at_remote else 0.0
        for name in names:
            if name[-1] == "!" and (not stop_at_remote or now < self._drained.get(name, _NEVER)[0]):
                taken = inbox.take(name)
                if taken is not None:
                    return taken
            if stop_at_remote:
                return None
        return None

    def _poll_args(self, queues: list[str]) -> tuple[Any, ...]:
        inbox = self._inbox
        names = [
            (queue + "+" if inbox.room(queue) else queue + "=")
            if queue[-1] == "!" and inbox.has(queue)
            else queue
            for queue in queues
        ]
        return (self._ns_bytes, self._poll_options + self._housekeeping(), *names)

    def _handle_poll(self, reply: Any, queues: list[str]) -> RawReceived:
        if reply.__class__ is bytes:  # "<index>:<envelope>" from a plain queue
            colon = reply.index(b":")
            queue = queues[int(reply[:colon]) - 1]
            _, _, payload = self._unpack(reply[colon + 1 :], queue)
            return queue, payload
        if not reply:
            self._mark_drained(queues, None)
            return None
        queue = queues[reply[0] - 1]
        bad = reply[4]
        if reply[2]:
            self._mark_drained(queues[: reply[0]], queue)
            bad += self._buffer(queue, reply[2], reply[3])
        else:
            self._mark_drained(queues[: reply[0]], None)
        if bad:
            raise MalformedMessage(
                f"inbox {queue!r} held {bad} entries that are not this layer's messages: "
                "dropped; its other messages are kept for the next receive"
            )
        return self._take_local([queue], False)

    def _unpack(self, envelope: bytes, queue: str) -> tuple[int, str | None, bytes]:
        """:func:`_parse`, counting what is malformed (it was taken off the queue)."""
        try:
            return _parse(envelope, queue)
        except MalformedMessage:
            self._malformed += 1
            raise

    def _mark_drained(self, queues: list[str], fruitful: str | None) -> None:
        """Note the inboxes among ``queues`` just drained (``fruitful`` brought messages)."""
        now = time.monotonic()
        drained = self._drained
        for queue in queues:
            if queue[-1] == "!":
                if queue == fruitful:
                    interval = DRAIN_INTERVAL
                else:
                    interval = min(drained.get(queue, _NEVER)[1] * 2, MAX_DRAIN_INTERVAL)
                if len(drained) >= 1024 and queue not in drained:
                    drained.clear()
                drained[queue] = (now + interval, interval)

    def _buffer(self, queue: str, lengths: bytes, blob: bytes) -> int:
        """Put the envelopes of a drained inbox into the local buffers; returns how many were
        not this layer's envelopes for that inbox (dropped and counted)."""
        offset = self._offset
        items = []
        position = 0
        index = blob.index
        bad = 0
        for length in lengths.split(b","):
            stop = position + int(length)
            try:
                first = index(b":", position, stop)
                second = index(b":", first + 1, stop)
                name = blob[first + 1 : second].decode("ascii")
                deadline = int(blob[position:first])
                if not name.startswith(queue) or len(name) == len(queue):
                    raise ValueError(name)
            except (ValueError, UnicodeDecodeError):
                bad += 1
            else:
                items.append((name, blob[second + 1 : stop], deadline / 1000 - offset))
            position = stop
        self._inbox.put_many(items)
        self._malformed += bad
        return bad

    def _handle_pop(self, queue: str, envelope: bytes) -> tuple[RawReceived, list[str]]:
        """The result of a BLPOP'd envelope, or (None, channels to evict) if it expired."""
        deadline, address, payload = self._unpack(envelope, queue)
        if deadline / 1000 <= time.time() + self._offset:
            return None, address_channels(address or queue)
        if queue[-1] != "!":
            return (queue, payload), []
        self._inbox.put(address or queue, payload, deadline / 1000 - self._offset)
        return self._take_local([queue], False), []

    def _blpop_plan(self, names: list[str], rotation: int) -> tuple[Shard, list[bytes], float]:
        plan = self._by_shard(names)
        shard, queues = plan[rotation % len(plan)]
        step = self._block_step if len(plan) == 1 else MULTI_SHARD_STEP
        return shard, [self._queue_key(queue) for queue in queues], step

    def _local_expired(self) -> list[tuple[Shard, list[str]]]:
        """Channels whose locally buffered messages expired (to evict from their groups)."""
        names = self._inbox.expired_channels()
        if not names:
            return []
        grouped: dict[int, list[str]] = {}
        for name in names:
            grouped.setdefault(id(self._shard(name[: name.index("!") + 1])), []).append(name)
        by_id = {id(shard): shard for shard in self._shards}
        return [(by_id[key], group) for key, group in grouped.items()]

    # -- receive: the decisions, once (a plan of round trips), and two drivers -----------------

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        return self._drive(self._receive_plan(channels, block, None))

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        # Driven in the caller's task (no task per receive). Cancelled while a round trip
        # is on its way, the receive still finishes that round trip and the rest of its
        # plan, which stops there, before the cancellation goes on (a BLPOP in flight is
        # unblocked first): what it took is parked. Cancelled anywhere else, it has taken
        # nothing. A receive that starts while cancelled ones of its loop finish waits for
        # them first, so that it returns what they parked instead of waiting on the server.
        if self._settling:
            loop = asyncio.get_running_loop()
            settling = [task for task in self._settling if task.get_loop() is loop]
            if settling:
                await asyncio.wait(settling)
                parked = self._take_parked(channels)
                if parked is not None:
                    return parked
        stop = asyncio.Event()
        plan = self._receive_plan(channels, True, stop)
        rest: list[Awaitable[RawReceived]] = []
        try:
            return await self._drive_async(plan, rest.append)
        except asyncio.CancelledError:
            if rest:
                stop.set()
                await self._park_despite_cancellation(rest[0])
            raise

    async def _park_despite_cancellation(self, rest: Awaitable[RawReceived]) -> None:
        """Run ``rest`` (of a cancelled receive) to its end in a task of its own that parks
        what it took, and wait for that task in this one, however often this one is
        cancelled meanwhile. An error of ``rest`` means nothing was taken that can be kept."""

        async def park_what_it_takes() -> None:
            taken = await rest
            if taken is not None:
                self.park(*taken)

        task = asyncio.ensure_future(park_what_it_takes())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                continue
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller sees

    def _receive_plan(
        self, channels: list[str], block: bool, stop: asyncio.Event | None
    ) -> Plan[RawReceived]:
        """Every decision of a receive (which shard, which script or command, how to read
        the reply, when to wait and for how long), as a generator that yields the round
        trips it needs, ``(shard, script name or None for a plain command, arguments)``, and
        is sent their replies (:meth:`_drive`, :meth:`_drive_async` do the I/O)."""
        now = time.monotonic()
        if len(channels) == 1:  # the fast path of a burst already buffered for one inbox
            name = channels[0]
            if name[-1] == "!" and now < self._drained.get(name, _NEVER)[0]:
                taken = self._inbox.take(name)
                if taken is not None:
                    return taken
        if now >= self._offset_due:
            self._set_offset((yield self._shards[0], None, ("TIME",)))
        result = yield from self._poll_plan(channels)
        if result is not None or not block:
            return result
        deadline = time.monotonic() + self.blocking_timeout
        rotation = 0
        while not self._closed and not (stop is not None and stop.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            shard, keys, step = self._blpop_plan(channels, rotation)
            rotation += 1
            try:
                wait = round(min(remaining, step), 3) or 0.001
                popped = yield shard, None, ("BLPOP", *keys, wait)
            except LayerUnavailable:
                if self._closed:
                    return None
                raise
            if popped is None:
                continue
            queue = popped[0][len(self._ns_bytes) + 2 :].decode("ascii")
            result, expired = self._handle_pop(queue, popped[1])
            if result is not None:
                return result
            if expired:
                yield self._shard(queue), "evict", (self._ns_bytes, *expired)
            result = yield from self._poll_plan(channels)  # what else arrived meanwhile
            if result is not None:
                return result
        return None

    def _poll_plan(self, channels: list[str]) -> Plan[RawReceived]:
        """One non-blocking look at ``channels``: local buffers, then one round trip per shard."""
        for shard, names in self._local_expired():
            yield shard, "evict", (self._ns_bytes, *names)
        if len(channels) == 1 and channels[0][-1] != "!":
            # one plain channel: a bare LPOP (expiry checked here)
            queue = channels[0]
            shard = self._single or self._shards[self._ring(queue)]
            key = self._queue_key(queue)
            while True:
                envelope = yield shard, None, ("LPOP", key)
                if envelope is None:
                    return None
                result, expired = self._handle_pop(queue, envelope)
                if not expired:
                    return result
                yield shard, "evict", (self._ns_bytes, *expired)
        local = self._take_local(channels, True)
        if local is not None:
            return local
        for shard, queues in self._by_shard(channels):
            reply = yield shard, "poll", self._poll_args(queues)
            result = self._handle_poll(reply, queues)
            if result is not None:
                return result
        return self._take_local(channels, False)

    @staticmethod
    def _drive(plan: Plan[T]) -> T:
        """Run a plan's round trips on this thread's connections."""
        call = plan.send
        reply: Any = None
        try:
            while True:
                shard, script, args = call(reply)
                call = plan.send
                try:
                    reply = shard.execute(*args) if script is None else shard.run(script, args)
                except LayerUnavailable as error:
                    call, reply = plan.throw, error
        except StopIteration as done:
            result: T = done.value
            return result

    @staticmethod
    async def _drive_async(
        plan: Plan[T],
        finish: Callable[[Awaitable[T]], object] | None = None,
        pending: Awaitable[Any] | None = None,
    ) -> T:
        """Run a plan's round trips on the running event loop's connections.

        With ``finish``, a cancellation that comes while a round trip is on its way hands
        ``finish`` the rest of the plan (an awaitable that completes that round trip on its
        connection, ``pending``, then drives the plan on) instead of abandoning the plan."""
        handed_over = False

        def hand_over(rest_of_round_trip: Awaitable[Any]) -> None:
            nonlocal handed_over
            assert finish is not None
            handed_over = True
            finish(RedisChannelLayer._drive_async(plan, None, rest_of_round_trip))

        on_cancel = hand_over if finish is not None else None
        call = plan.send
        reply: Any = None
        try:
            while True:
                if pending is not None:
                    step, pending = pending, None
                else:
                    shard, script, args = call(reply)
                    if script is None:
                        step = shard.execute_async(*args, on_cancel=on_cancel)
                    else:
                        step = shard.run_async(script, args, on_cancel)
                call = plan.send
                try:
                    reply = await step
                except LayerUnavailable as error:
                    call, reply = plan.throw, error
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            if not handed_over:
                plan.close()

    def _set_offset(self, server_time: list[Any]) -> None:
        self._offset = int(server_time[0]) + int(server_time[1]) / 1e6 - time.time()
        self._offset_expiry = self._offset + self.expiry
        self._offset_due = time.monotonic() + OFFSET_REFRESH

    def _channel_in_use(self, name: str) -> bool:
        return self._drive(self._in_use_plan(name))

    async def _channel_in_use_async(self, name: str) -> bool:
        return await self._drive_async(self._in_use_plan(name))

    def _in_use_plan(self, name: str) -> Plan[bool]:
        return bool((yield self._shard(inbox_name(name)), "in_use", (self._ns_bytes, name)))

    # -- groups: each call's decisions are a plan, run by ``_drive`` or ``_drive_async`` --------

    def _group_add(self, group: str, channel: str) -> None:
        self._drive(self._group_add_plan(group, channel))

    async def _group_add_async(self, group: str, channel: str) -> None:
        await self._drive_async(self._group_add_plan(group, channel))

    def _group_add_plan(self, group: str, channel: str) -> Plan[None]:
        queue = inbox_name(channel)
        yield (
            self._shard(queue),
            "group_add",
            (self._ns_bytes, group, channel, self.capacity_for(queue), self._group_expiry_ms),
        )

    def _group_discard(self, group: str, channel: str) -> None:
        self._drive(self._group_discard_plan(group, channel))

    async def _group_discard_async(self, group: str, channel: str) -> None:
        await self._drive_async(self._group_discard_plan(group, channel))

    def _group_discard_plan(self, group: str, channel: str) -> Plan[None]:
        yield self._shard(inbox_name(channel)), "group_discard", (self._ns_bytes, group, channel)

    def _group_channels(self, group: str) -> list[str]:
        members: list[str] = []
        for shard in self._shards:
            reply = shard.run("group_channels", (self._ns_bytes, group, self._group_expiry_ms))
            members.extend(member.decode("ascii") for member in reply)
        return members

    def _send_group(self, group: str, payload: bytes) -> None:
        self._drive(self._send_group_plan(group, payload))

    async def _send_group_async(self, group: str, payload: bytes) -> None:
        await self._drive_async(self._send_group_plan(group, payload))

    def _send_group_plan(self, group: str, payload: bytes) -> Plan[None]:
        token = random_token()
        args = (
            self._ns_bytes,
            group,
            payload,
            self.capacity,
            self._expiry_ms,
            self._group_expiry_ms,
            GROUP_CHUNK,
            token,
        )
        for shard in self._shards:
            # One round trip per shard for groups up to GROUP_CHUNK members. A larger group
            # takes one bounded call per chunk, in turn, so the server serves its other
            # clients in between (it would not between pipelined calls: Redis runs what one
            # client pipelined back to back). Never retried (at most once).
            total = (yield shard, "send_group", (*args, 0))[3]
            for part in range(1, (total + GROUP_CHUNK - 1) // GROUP_CHUNK):
                try:
                    yield shard, "send_group", (*args, part)
                except LayerUnavailable as error:  # earlier parts were delivered
                    if isinstance(error, OutcomeUnknown):
                        raise
                    raise shard.unknown(error, ("send_group",)) from error

    # -- flush, statistics, sessions, close -----------------------------------------------------

    def _flush(self) -> None:
        self._inbox.clear()
        for shard in self._shards:
            try:
                batch: list[bytes] = []
                for key in shard.client.scan_iter(match=self._flush_pattern, count=1000):
                    batch.append(key)
                    if len(batch) >= 1000:
                        shard.client.unlink(*batch)
                        batch = []
                if batch:
                    shard.client.unlink(*batch)
            except CONNECTION_ERRORS as error:
                raise shard.error(error) from error

    def _global_statistics(self) -> Statistics:
        pending = 0
        max_age = 0.0
        count = full = 0
        malformed = self._malformed
        sent_rate = full_rate = 0.0
        token = random_token()
        for shard in self._shards:
            args = (self._ns_bytes, GROUP_CHUNK, token)
            reply = shard.run("global_stats", (*args, 0))
            shard_pending, oldest, shard_count, shard_full, sent, refused, window, now = reply[:8]
            malformed += reply[8]
            for part in range(1, (reply[9] + GROUP_CHUNK - 1) // GROUP_CHUNK):
                more = shard.run("global_stats", (*args, part))  # bounded calls, in turn
                shard_pending += more[0]
                if more[1] and (not oldest or more[1] < oldest):
                    oldest = more[1]
            pending += shard_pending
            if oldest:
                max_age = max(max_age, (now - (oldest - self._expiry_ms)) / 1000)
            count += shard_count
            full += shard_full
            if window:
                sent_rate += sent / window
                full_rate += refused / window
        return self._inbox.add_to_global(
            {
                "messages_count": count,
                "messages_pending": pending,
                "messages_max_age": max(max_age, 0.0),
                "channel_full_count": full,
                "messages_count_per_second": sent_rate,
                "channel_full_count_per_second": full_rate,
                "messages_malformed_count": malformed,
            }
        )

    def _channel_statistics(self, channel: str) -> Statistics:
        bang = channel.find("!")
        queue = channel if bang < 0 else channel[: bang + 1]
        reply = self._shard(queue).run("channel_stats", (self._ns_bytes, queue))
        pending, oldest, count, full, now = reply
        age = (now - (oldest - self._expiry_ms)) / 1000 if oldest else 0.0
        return self._inbox.add_to_channel(
            channel,
            {
                "messages_count": count,
                "messages_pending": pending,
                "messages_max_age": max(age, 0.0),
                "channel_full_count": full,
            },
        )

    def _make_session_store(self) -> SessionStore:
        from .sessions import RedisSessionStore

        return RedisSessionStore(self._shards, self._ring, self._ns + "s:", self.cipher)

    def _close(self) -> None:
        self._inbox.clear()
        for shard in self._shards:
            shard.close()

    def __repr__(self) -> str:
        where = ",".join(shard.config.describe() for shard in self._shards)
        return f"<{type(self).__name__} {where} prefix={self.prefix!r}>"
