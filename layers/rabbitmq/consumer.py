"""The receiving side of the RabbitMQ layer: consumers, local buffers and the I/O pump.

One :class:`Receiver` per layer object owns one connection with two channels: the *consume*
channel (``basic.qos`` prefetch, one consumer per queue asked for, acknowledgements) and the
*control* channel of its :class:`~.connection.Link` (declarations). pika is not thread-safe,
so every use of the connection holds the receiver's lock; a daemon thread takes the lock
whenever no receive holds it, to keep heartbeats flowing while the application runs between
receives, and to cancel consumers nobody asked for lately.

At most once, never lost:

* a plain queue's consumer gets up to ``prefetch`` messages pushed, unacknowledged, into a
  local deque; ``take`` acknowledges a message *before* returning it;
* messages pushed but not handed out go back to their queue, in place, when their consumer
  is cancelled (idle, close) or the connection drops, so no two receivers ever get one;
* an inbox queue (``!``) is drained into the layer's :class:`~channels_core.inbox.ProcessInbox`
  when its prefix is received: each delivery is acknowledged as it moves into the bounded,
  expiring per-channel buffers; a process that does not receive does not drain, so its
  inbox fills on the broker and senders see ``ChannelFull``;
* a group entry in an inbox names its group; the receiver fans it out to the inbox's members
  of that group (:class:`~.rosters.Rosters`: its own layer object's memberships, and those
  from the inbox's roster queue, after a round trip that makes sure every roster record
  enqueued before the entry has arrived).

A non-blocking ``take`` that finds nothing local asks the broker once per queue (a passive
declare on the consume channel: the broker sends every delivery it has made before the
answer), so a message sent before is seen. A consumer is started the first time a queue is
asked for; ``basic.get`` is never used.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from channels_core.exceptions import LayerUnavailable
from channels_core.inbox import ProcessInbox, entry_address

from . import ledger
from .connection import (
    CHANNEL_ERRORS,
    CONNECTION_ERRORS,
    NOT_FOUND,
    Link,
    ask_barrier,
    reply_code,
)
from .rosters import Rosters

RawReceived = tuple[str, bytes] | None

#: Longest single wait on the socket inside a blocking take (the lock is released between).
STEP = 0.05
#: A consumer whose queue nobody asked for this long is cancelled (its prefetched, not
#: handed out messages return to the queue for other receivers).
CONSUMER_IDLE = 0.5
#: How often the pump thread services the connection when nobody receives.
PUMP_INTERVAL = 0.1


@dataclass
class Consumer:
    queue: str
    name: str  # channel name, or the inbox prefix for ! queues
    tag: str = ""
    asked_at: float = 0.0
    #: (delivery tag, type property, timestamp (send time, microseconds), body), pushed and
    #: not yet acknowledged
    pending: deque[tuple[int, str | None, int | None, bytes]] = field(default_factory=deque)


@dataclass
class Settling:
    """Deliveries acknowledged from an event loop whose barrier (see ``Receiver._settle``)
    was sent and not answered yet: once it is, ``message`` (a normal channel's) is handed
    out and ``entries`` (an inbox's) go to the process buffers; never if the connection
    fails first."""

    generation: int
    started: float
    message: tuple[str, bytes] | None = None
    entries: list[tuple[str, bytes, float]] = field(default_factory=list)
    answered: bool = False

    def answer(self) -> None:
        self.answered = True


class Receiver:
    """Consumers and local buffers of one layer object (thread-safe)."""

    def __init__(
        self,
        link: Link,
        *,
        prefetch: int,
        inbox: ProcessInbox,
        expiry: float,
        capacity_for: Callable[[str], int],
        queue_of: Callable[[str], str],
        roster_of: Callable[[str], str],
        declare: Callable[[Link, str, str, bool], None],
        declare_roster: Callable[[Any, str], Any],
        park: Callable[[str, bytes], None],
    ) -> None:
        self._link = link
        self._park = park
        self._settling: Settling | None = None
        self._prefetch = prefetch
        self._inbox = inbox
        self._expiry = expiry
        self._queue_of = queue_of
        self._roster_of = roster_of
        self._declare = declare
        self._declare_roster = declare_roster
        self._capacity_for = capacity_for
        self.lock = threading.RLock()
        self._consume: Any = None
        self._qos = 0  # the consume channel's prefetch for the next consumer
        self._generation = -1
        self._consumers: dict[str, Consumer] = {}  # by name asked for
        self._by_tag: dict[str, Consumer] = {}
        #: the ``!`` memberships of the inboxes received here (see :mod:`.rosters`)
        self.rosters = Rosters()
        self._roster_tags: dict[str, str] = {}
        self._closed = False
        self._pumping = False  # the pump holds the lock (briefly): an event loop asks again
        self._pump = threading.Thread(target=self._pump_loop, name="rabbitmq-pump", daemon=True)
        self._pump_started = False

    # -- the consume channel ------------------------------------------------------------------

    def _channel(self) -> Any:
        link = self._link
        if not self._current():
            self._forget_consumers()
            connection = link.connection
            try:
                channel = connection.channel()
                channel.basic_qos(prefetch_count=self._prefetch)
                self._qos = self._prefetch
                channel.add_on_cancel_callback(self._cancelled_by_broker)
            except CONNECTION_ERRORS as error:
                raise link.failed(error) from None
            self._consume, self._generation = channel, link.generation
        if not self._pump_started:
            self._pump_started = True
            self._pump.start()
        return self._consume

    def _current(self) -> bool:
        """Whether the consume channel is open on the link's current connection (a link
        dropped by a failed call reopens on its next use, without the consumers)."""
        channel = self._consume
        return channel is not None and channel.is_open and self._link.generation == self._generation

    def prepare(self) -> None:
        """Open the connection and the consume channel now, if they are not (best effort:
        a failure is left for the next receive to report)."""
        with self.lock:
            if self._consume is not None and self._consume.is_open:
                return
            try:
                self._channel()
            except LayerUnavailable:
                pass

    def _forget_consumers(self) -> None:
        """The channel is gone: the broker requeued everything unacknowledged on it, so the
        local copies must never be handed out."""
        self._consumers.clear()
        self._by_tag.clear()
        self._roster_tags.clear()
        self._consume = None

    def _cancelled_by_broker(self, method: Any) -> None:
        consumer = self._by_tag.pop(method.method.consumer_tag, None)
        if consumer is not None:  # its queue was deleted (flush, idle expiry): nothing to keep
            self._consumers.pop(consumer.name, None)
            consumer.pending.clear()
        for inbox, tag in list(self._roster_tags.items()):
            if tag == method.method.consumer_tag:
                del self._roster_tags[inbox]

    def _subscribe(self, name: str) -> tuple[Consumer | None, bool]:
        """The consumer of ``name``'s queue, started if needed; None for an inbox whose
        process buffers are full as a whole (its entries stay on the broker meanwhile)."""
        consumer = self._consumers.get(name)
        if consumer is not None and not self._current():
            self._channel()  # the connection was dropped: subscribe again on a new channel
            consumer = None
        inbox = name[-1] == "!"
        if inbox and not self._inbox.room(name):
            if consumer is not None:
                self._cancel(consumer)
            return None, False
        if consumer is not None:
            return consumer, False
        channel = self._channel()
        queue = self._queue_of(name)
        for attempt in (0, 1):
            self._declare(self._link, queue, name, bool(attempt))
            consumer = Consumer(queue, name)
            try:
                with self._link.deadline():
                    self._start(channel, consumer, inbox)
            except CHANNEL_ERRORS as error:
                self._forget_consumers()
                if reply_code(error) == NOT_FOUND and not attempt:
                    channel = self._channel()  # deleted since we declared it: declare again
                    continue
                raise
            except CONNECTION_ERRORS as error:
                self._forget_consumers()
                raise self._link.failed(error) from None
            break
        assert consumer is not None
        self._consumers[name] = consumer
        self._by_tag[consumer.tag] = consumer
        return consumer, True

    def _start(self, channel: Any, consumer: Consumer, inbox: bool) -> None:
        name = consumer.name
        if inbox and name not in self._roster_tags:  # declared with the inbox (``declare``)
            self._roster_tags[name] = channel.basic_consume(
                self._roster_of(name), self._roster_callback(name), auto_ack=False
            )
        # Never more pushed to this process than the channel's capacity (the prefetch
        # applies to the consumers started after it is set).
        prefetch = min(self._prefetch, self._capacity_for(name))
        if prefetch != self._qos:
            channel.basic_qos(prefetch_count=prefetch)
            self._qos = prefetch
        consumer.tag = channel.basic_consume(
            consumer.queue, self._callback(consumer), auto_ack=False
        )

    def _callback(self, consumer: Consumer) -> Callable[..., None]:
        pending = consumer.pending

        def on_message(_ch: Any, method: Any, props: Any, body: bytes) -> None:
            pending.append((method.delivery_tag, props.type, props.timestamp, body))

        return on_message

    def _roster_callback(self, inbox: str) -> Callable[..., None]:
        """Apply a roster record, then acknowledge it: a record pushed here and not applied
        when the channel closes or the connection drops goes back to the roster queue and
        comes again (applying a record twice changes nothing: the newest change wins)."""

        def on_record(channel: Any, method: Any, _props: Any, body: bytes) -> None:
            self._apply_roster_record(inbox, body)
            channel.basic_ack(method.delivery_tag)

        return on_record

    def _apply_roster_record(self, inbox: str, body: bytes) -> None:
        record = ledger.Record.parse(0, body)
        if record is None:
            return
        if record.kind == "a":
            self.rosters.add(inbox, record.group, record.name, record.at, record.at + record.lapse)
        elif record.kind == "d":
            self.rosters.discard(inbox, record.group, record.name, record.at)

    # -- taking messages ----------------------------------------------------------------------

    def take(self, names: list[str], block: bool, timeout: float) -> RawReceived:
        """One message of ``names`` (already in fair order), acknowledged; None if nothing
        came (at once, or within ``timeout`` if ``block``)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            settled = self._resolve(names, wait=True)
            if isinstance(settled, tuple):
                return settled
            # A blocking take needs no round trip to be sure: it waits for pushes anyway.
            result, _ = self._poll(names, barrier=not block)
            if not block:
                self._release(names)
            if result is not None or not block:
                return result
        while not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self.lock:
                self._wait(min(remaining, STEP))
                result, _ = self._poll(names, barrier=False)
                if result is not None:
                    return result
        return None

    def take_ready(self, names: list[str]) -> RawReceived | Literal["wait", "busy", "blocking"]:
        """A blocking ``take`` of ``names`` for an event loop, as far as it goes without
        waiting on anything: a message already drained into an ``!`` inbox's process
        buffers; ``"wait"`` when nothing came yet (wait until :meth:`fileno` is readable and
        ask again); ``"busy"`` when the pump thread holds the connection for a moment (ask
        again shortly); ``"blocking"`` when the take needs round trips (a consumer to start,
        deliveries to acknowledge, which waits for the broker's answer, a group entry whose
        roster must be read first) or another thread holds the connection: run :meth:`take`
        on a worker thread."""
        if not self.lock.acquire(blocking=False):
            return "busy" if self._pumping else "blocking"
        try:
            if self._closed or not self._current():
                return "blocking"
            consumers = []
            now = time.monotonic()
            for name in names:
                consumer = self._consumers.get(name)
                if consumer is None or (name[-1] == "!" and not self._inbox.room(name)):
                    return "blocking"
                consumer.asked_at = now
                consumers.append(consumer)
            waited = False
            while True:
                settled = self._resolve(names, wait=False)
                if settled == "wait":
                    if time.monotonic() - self._started_settling() > self._link.timeout:
                        return "blocking"  # a bounded wait for the answer, then an error
                    if waited:
                        return "wait"
                elif settled is not None:
                    return settled
                else:
                    for consumer in consumers:
                        if consumer.pending:
                            if consumer.name[-1] == "!" and any(
                                kind and kind[0] == "#" for _, kind, _, _ in consumer.pending
                            ):
                                return "blocking"  # its roster is read first
                            self._settle_later(consumer)  # its answer may be in already
                            break
                        if consumer.name[-1] == "!":
                            taken = self._inbox.take(consumer.name)
                            if taken is not None:
                                return taken
                    else:
                        if waited:
                            return "wait"
                self._wait(0)
                waited = True
        finally:
            self.lock.release()

    def _started_settling(self) -> float:
        return self._settling.started if self._settling is not None else time.monotonic()

    def _settle_later(self, consumer: Consumer) -> None:
        """From an event loop: acknowledge ``consumer``'s first delivery (a normal channel)
        or all of them (an inbox), and send the barrier of :meth:`_settle` without waiting
        for its answer (:meth:`_resolve` hands the message out once it came)."""
        generation = self._generation
        try:
            if consumer.name[-1] == "!":
                tags, entries = self._drained(consumer)
                settling = Settling(generation, time.monotonic(), entries=entries)
                self._ack_drained(consumer, tags)
            else:
                tag, _, _, body = consumer.pending.popleft()
                settling = Settling(generation, time.monotonic(), message=(consumer.name, body))
                self._consume.basic_ack(tag)
            self._settling = settling
            ask_barrier(self._consume, self._qos, settling.answer)
        except CONNECTION_ERRORS + CHANNEL_ERRORS as error:  # some acks may have landed
            self._settling = None
            self._forget_consumers()
            raise self._link.unknown(error) from None

    def _resolve(self, names: list[str], wait: bool) -> RawReceived | Literal["wait"]:
        """Finish what :meth:`_settle_later` acknowledged: once the broker answered, its
        entries go to the inbox's buffers and its message is returned if it is of
        ``names`` (else parked for the next receive of its channel); None if there was
        nothing to finish or nothing to return. Not answered yet: ``"wait"``, or, if
        ``wait``, wait for it (bounded by the link's timeout). ``OutcomeUnknown`` if the
        connection failed before the answer (the acks may have landed: nothing is handed
        out)."""
        settling = self._settling
        if settling is None:
            return None
        if not settling.answered:
            if not (self._current() and self._generation == settling.generation):
                self._settling = None
                raise self._link.unknown(
                    ConnectionError("the connection failed before the broker answered"),
                    drop=False,
                )
            if not wait:
                return "wait"
            try:
                with self._link.deadline():
                    while not settling.answered:
                        self._link.connection.process_data_events(STEP)
            except CONNECTION_ERRORS + CHANNEL_ERRORS as error:
                self._settling = None
                self._forget_consumers()
                raise self._link.unknown(error) from None
        self._settling = None
        if settling.entries:
            self._inbox.put_many(settling.entries)
        message = settling.message
        if message is None:
            return None
        if message[0] in names:
            return message
        self._park(*message)
        return None

    def fileno(self) -> int | None:
        """The socket the broker pushes deliveries on (None if not connected)."""
        return self._link.fileno()

    def _poll(self, names: list[str], barrier: bool = True) -> tuple[RawReceived, bool]:
        now = time.monotonic()
        for attempt in (0, 1):
            consumers = []
            started = False
            local: list[str] = []  # full inboxes: served from the process buffers only
            for name in names:
                consumer, new = self._subscribe(name)
                if consumer is None:
                    local.append(name)
                    continue
                consumer.asked_at = now
                consumers.append(consumer)
                started = started or new
            for name in local:
                taken = self._inbox.take(name)
                if taken is not None:
                    return taken, started
            result = self._pick(consumers)  # what was pushed already: no I/O
            if result is None:
                self._wait(0)
                result = self._pick(consumers)
            if result is not None or not barrier:
                return result, started
            try:
                channel = self._channel()
                with self._link.deadline():
                    for consumer in consumers:
                        channel.queue_declare(consumer.queue, passive=True)
            except CHANNEL_ERRORS as error:
                # The broker closed the channel (and requeued what it had pushed on it).
                self._forget_consumers()
                if reply_code(error) == NOT_FOUND and not attempt:
                    continue  # a queue was deleted (flush, idle expiry): subscribe again
                raise
            except CONNECTION_ERRORS as error:
                self._forget_consumers()
                raise self._link.failed(error) from None
            self._wait(0)
            return self._pick(consumers), started
        return None, False

    def _wait(self, seconds: float) -> None:
        try:
            self._link.connection.process_data_events(seconds)
        except CONNECTION_ERRORS as error:
            self._forget_consumers()
            raise self._link.failed(error) from None

    def _pick(self, consumers: list[Consumer]) -> RawReceived:
        for consumer in consumers:
            if consumer.name[-1] == "!":
                if consumer.pending:
                    self._drain(consumer)
                taken = self._inbox.take(consumer.name)
                if taken is not None:
                    return taken
            elif consumer.pending:
                tag, _, _, body = consumer.pending.popleft()
                self._ack(tag)
                return consumer.name, body
        return None

    def _ack(self, tag: int) -> None:
        """Acknowledge ``tag`` and make sure the broker took the ack before the message is
        handed out (see :meth:`_settle`)."""
        try:
            with self._link.deadline():
                self._consume.basic_ack(tag)
                self._settle()
        except CONNECTION_ERRORS + CHANNEL_ERRORS as error:  # the ack may have landed
            self._forget_consumers()
            raise self._link.unknown(error) from None

    def _settle(self) -> None:
        """One round trip on the consume channel after acknowledgements: AMQP never answers
        an ack, and the broker processes a channel's methods in order, so the answer to a
        ``basic.qos`` restating the prefetch (no effect) proves every ack before it was
        taken. Without it, an ack lost with its connection (a cut, a stall) lets the broker
        requeue a message already handed out: the next receiver gets it again. A failure
        before the answer leaves the outcome unknown: the caller hands nothing out."""
        self._consume.basic_qos(prefetch_count=self._qos)

    def _drain(self, consumer: Consumer) -> None:
        """Move an inbox's pushed deliveries into the process buffers (acknowledging each),
        unless those buffers are full as a whole: then the deliveries stay unacknowledged,
        the prefetch window closes, and the inbox fills on the broker (``ChannelFull`` for
        senders)."""
        if not self._inbox.room(consumer.name):
            return
        if any(kind and kind[0] == "#" for _, kind, _, _ in consumer.pending):
            self._roster_barrier(consumer.name)
        tags, entries = self._drained(consumer)
        try:
            with self._link.deadline():
                self._ack_drained(consumer, tags)
                self._settle()
        except CONNECTION_ERRORS + CHANNEL_ERRORS as error:  # some acks may have landed
            self._forget_consumers()
            raise self._link.unknown(error) from None
        if entries:
            self._inbox.put_many(entries)

    def _drained(self, consumer: Consumer) -> tuple[list[int], list[tuple[str, bytes, float]]]:
        """Take every delivery ``consumer`` (an inbox's) holds: their tags, and the buffer
        entries they make (a group entry for the inbox's members of the group at its send
        time, read from the rosters: a caller with group entries pending reads the roster
        first)."""
        now = time.time()
        entries: list[tuple[str, bytes, float]] = []
        pending = consumer.pending
        tags: list[int] = []
        while pending:
            tag, kind, stamp, body = pending.popleft()
            tags.append(tag)
            sent_at = stamp / 1_000_000 if stamp else now
            expires_at = sent_at + self._expiry
            if not kind:
                continue
            if kind[0] == "#":  # a group entry: for the inbox's members of the group then
                members = self.rosters.members(consumer.name, kind[1:], sent_at, now)
                if members:
                    entries.append((entry_address(members), body, expires_at))
            elif kind.startswith(consumer.name) and len(kind) > len(consumer.name):
                entries.append((kind, body, expires_at))
        return tags, entries

    def _ack_drained(self, consumer: Consumer, tags: list[int]) -> None:
        """Acknowledge ``tags``, every delivery ``consumer`` had (in order): one ack for all
        of them when no other consumer of the channel holds an unacknowledged delivery below
        the last (the channel's unacknowledged deliveries are exactly the consumers' pending
        ones, dispatched in tag order: roster records are acknowledged as they are applied),
        else one by one."""
        if not tags:
            return
        last = tags[-1]
        if len(tags) > 1 and not any(
            other is not consumer and other.pending and other.pending[0][0] < last
            for other in self._consumers.values()
        ):
            self._consume.basic_ack(last, multiple=True)
            return
        for tag in tags:
            self._consume.basic_ack(tag)

    def _roster_barrier(self, inbox: str) -> None:
        """Make sure every roster record enqueued before now has arrived: the roster queue
        has none left to push (a passive declare's count, answered after the deliveries it
        made before it), asked again while the queue is still pushing its backlog."""
        channel = self._channel()
        deadline = time.monotonic() + self._link.timeout
        while True:
            try:
                with self._link.deadline():
                    reply = self._declare_roster(channel, self._roster_of(inbox))
            except CHANNEL_ERRORS:
                self._forget_consumers()
                raise
            except CONNECTION_ERRORS as error:
                self._forget_consumers()
                raise self._link.failed(error) from None
            waiting = int(reply.method.message_count)
            self._wait(0 if not waiting else STEP / 10)
            if not waiting or inbox not in self._roster_tags:
                return
            if time.monotonic() > deadline:
                raise self._link.error(f"the roster of {inbox!r} kept records back")

    # -- counting and housekeeping ------------------------------------------------------------

    def local_pending(self, name: str) -> int:
        """Messages (inbox entries) pushed to this process for ``name`` and not yet handed
        out or drained into the process buffers."""
        with self.lock:
            consumer = self._consumers.get(name)
            return len(consumer.pending) if consumer is not None else 0

    def consuming(self, name: str) -> bool:
        return name in self._consumers

    def ready(self, queue: str, name: str) -> int:
        """Messages waiting in ``queue`` on the broker (0 if it does not exist); through the
        consume channel when it consumes ``name``, so that in-flight deliveries are counted
        locally, not twice and not never."""
        with self.lock:
            if name in self._consumers:
                channel = self._channel()
                try:
                    with self._link.deadline():
                        reply = channel.queue_declare(queue, passive=True)
                    count = int(reply.method.message_count)
                except CHANNEL_ERRORS:
                    self._forget_consumers()
                    return 0
                except CONNECTION_ERRORS as error:
                    self._forget_consumers()
                    raise self._link.failed(error) from None
                self._wait(0)
                return count
        return -1

    def _release(self, names: list[str]) -> None:
        """After a non-blocking receive: cancel the consumers of ``names``, so that what is
        sent next stays visible to every process, not pushed here, and what they were pushed
        and did not hand out goes back to its queue, in place, where it counts against the
        queue's capacity again (``x-max-length`` counts ready messages only: left pushed, it
        would let senders store up to ``capacity`` more)."""
        for name in names:
            consumer = self._consumers.get(name)
            if consumer is not None:
                self._cancel(consumer)

    def release_idle(self, idle: float = CONSUMER_IDLE) -> None:
        """Cancel consumers nobody asked for in ``idle`` seconds; their pushed messages go
        back to the queue (in place) for other receivers."""
        now = time.monotonic()
        for consumer in list(self._consumers.values()):
            if now - consumer.asked_at > idle:
                self._cancel(consumer)

    def _cancel(self, consumer: Consumer) -> None:
        self._consumers.pop(consumer.name, None)
        self._by_tag.pop(consumer.tag, None)
        channel = self._consume
        if channel is None or not channel.is_open:
            return
        try:
            if consumer.name[-1] == "!" and consumer.pending:
                self._drain(consumer)  # process-specific: nobody else may take them
            for tag, _, _, _ in consumer.pending:
                channel.basic_nack(tag, requeue=True)
            consumer.pending.clear()
            channel.basic_cancel(consumer.tag)
            roster_tag = self._roster_tags.pop(consumer.name, None)
            if roster_tag is not None:
                # Records pushed and not yet applied go back to the roster queue (pika
                # rejects them with requeue): the next consumer of the inbox reads them
                # before it fans out a group entry (``_roster_barrier``).
                channel.basic_cancel(roster_tag)
        except CHANNEL_ERRORS + CONNECTION_ERRORS:
            self._forget_consumers()

    def forget_local(self) -> None:
        """After a flush: drop what was pushed here (its queues are gone) and the consume
        channel with its consumers (the next receive subscribes again)."""
        with self.lock:
            for consumer in list(self._consumers.values()):
                consumer.pending.clear()
            self.rosters.clear()
            channel = self._consume
            self._forget_consumers()
            if channel is not None:
                ledger.close_quietly(channel)

    def _pump_loop(self) -> None:
        while not self._closed:
            time.sleep(PUMP_INTERVAL)
            if not self.lock.acquire(blocking=False):
                continue
            self._pumping = True
            try:
                if self._closed or not self._link.is_open:
                    continue
                self._link.connection.process_data_events(0)
                self.release_idle()
            except Exception:
                self._forget_consumers()
            finally:
                self._pumping = False
                self.lock.release()

    def close(self) -> None:
        with self.lock:
            self._closed = True
            for consumer in list(self._consumers.values()):
                self._cancel(consumer)
            self._link.close()
            self._forget_consumers()
