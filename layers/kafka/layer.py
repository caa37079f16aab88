"""``KafkaChannelLayer``: the contract on Kafka (the package docstring is the manual)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, ClassVar

from channels_core.exceptions import ChannelFull, ImproperlyConfigured, LayerUnavailable
from channels_core.inbox import ProcessInbox, entry_address
from channels_core.layer import RECEIVE_EXTENSIONS, BaseChannelLayer, RawReceived
from channels_core.names import TOKEN_LENGTH, inbox_name
from channels_core.options import (
    Option,
    OptionTable,
    anything,
    boolean,
    integer,
    number,
    optional,
    parse_bool,
    text,
)
from channels_core.session_store import SessionStore
from channels_core.statistics import Statistics

from .client import KafkaClient, KafkaSettings, TopicMissing, TopicPartition
from .control import (
    FLUSH_KEY,
    ControlTable,
    eviction_key,
    liveness_key,
    membership_key,
    pack,
)
from .group_reader import GroupReader
from .log_reader import LogReader
from .naming import TopicNames, partition_of

logger = logging.getLogger(__name__)

#: Seconds between two housekeeping passes (expired buffers, idle readers, liveness).
HOUSEKEEPING_INTERVAL = 0.5
#: Longest timeout-like option (seconds).
MAX_TIMEOUT = 3600.0
#: A receiving layer object re-reads the control topic this often (seconds, on its
#: housekeeping thread), so a flush by another process also empties what this one already
#: took within about that time.
FLUSH_VISIBILITY = 0.1

Record = tuple[str, bytes | None, bytes | None, int | None, int | None]


class KafkaChannelLayer(BaseChannelLayer):
    """The channel-layer contract on Kafka; see :mod:`layers.kafka` for features and options."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", *RECEIVE_EXTENSIONS]
    options: ClassVar[OptionTable] = BaseChannelLayer.options.extend(
        Option("url", None, optional(text)),
        Option("bootstrap_servers", None, anything),
        Option("request_timeout", 5.0, number(maximum=MAX_TIMEOUT), float),
        Option("session_timeout_ms", 10_000, integer(1, 3_600_000), int),
        Option("heartbeat_interval_ms", None, optional(integer(1, 3_600_000)), int),
        Option("join_timeout", None, optional(number(maximum=MAX_TIMEOUT)), float),
        Option("single_reader_partitions", 8, integer(1, 10_000), int),
        Option("replication_factor", -1, integer(-1, 100), int),
        Option("commit_batch", 64, integer(1, 100_000), int),
        Option("capacity_refresh", 1.0, number(maximum=MAX_TIMEOUT), float),
        Option("liveness_interval", 10.0, number(maximum=MAX_TIMEOUT), float),
        Option("reader_idle", 60.0, number(maximum=86_400.0), float),
        Option("sasl_mechanism", None, optional(text), str),
        Option("ssl_cafile", None, optional(text), str),
        Option("ssl_certfile", None, optional(text), str),
        Option("ssl_keyfile", None, optional(text), str),
        Option("ssl_check_hostname", True, boolean, parse_bool),
    )

    url: str | None
    bootstrap_servers: str | Sequence[str] | None
    request_timeout: float
    session_timeout_ms: int
    heartbeat_interval_ms: int
    join_timeout: float
    single_reader_partitions: int
    replication_factor: int
    commit_batch: int
    capacity_refresh: float
    liveness_interval: float
    reader_idle: float
    sasl_mechanism: str | None
    ssl_cafile: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    ssl_check_hostname: bool

    conformance_idle_seconds = 6.0
    deviations: ClassVar[Mapping[str, str]] = {
        "expiry.message": (
            "the clause sends with expiry=1 s and then makes the FIRST receive on a normal "
            "channel; that receive must first join the channel's consumer group (the "
            "exclusivity at-most-once rests on), which takes about 1 s on Tansu (and "
            "group.initial.rebalance.delay.ms on Apache Kafka), so the message has expired "
            "when the join completes. Expiry itself holds (never delivered after expiry; "
            "tests/layers/test_kafka.py checks it with a joined reader)."
        ),
        "groups.eviction-on-expiry": (
            "eviction holds (the expired channel leaves every group: tests/layers/test_kafka.py "
            "checks it), but the clause's last check, with expiry=1 s, makes the FIRST receive "
            "on another normal channel ('alive') right after a group send; joining that "
            "channel's consumer group takes about 1 s on Tansu, so the message has expired "
            "when the join completes, as in expiry.message."
        ),
    }

    def __init__(self, url: str | None = None, **options: Any) -> None:
        super().__init__(url=url, **options)
        if self.replication_factor == 0:
            raise ImproperlyConfigured(
                "replication_factor must be a positive int or -1 (the broker's default), got 0"
            )
        self.heartbeat_interval_ms = self.heartbeat_interval_ms or max(
            100, self.session_timeout_ms // 3
        )
        self.join_timeout = self.join_timeout or (
            3 * self.session_timeout_ms / 1000 + self.request_timeout
        )
        self.settings = KafkaSettings.parse(
            self.url,
            self.bootstrap_servers,
            self.sasl_mechanism,
            self.ssl_cafile,
            self.ssl_certfile,
            self.ssl_keyfile,
            self.ssl_check_hostname,
        )
        self._client = KafkaClient(self.settings, self.request_timeout, self.message_size_limit)
        self._names = TopicNames(self.prefix)
        self._control = ControlTable(self._client, self._names.control)
        self._arrived = Arrivals()
        self._inbox = ProcessInbox(self.capacity_for)
        self._consumer_options = {"fetch_max_wait_ms": 20}
        self._log_reader = LogReader(
            self._client,
            f"{self._names.base}-i",
            self._inbox,
            self.expiry,
            self._flush_mark,
            self._arrived,
            self._consumer_options,
        )
        self._readers: dict[str, GroupReader] = {}
        self._readers_lock = threading.Lock()
        self._single_tps: dict[str, Any] = {}
        self._counts: dict[str, _SendCount] = {}  # queue -> this object's running count
        self._counting = threading.Lock()  # sends of several threads update the counts
        # ? channel -> offsets (and send times) of this object's sends still maybe pending
        self._single_sent: dict[str, deque[tuple[int, float]]] = {}
        self._full: dict[str, int] = {}
        self._full_total = 0
        self._sent_singles: dict[str, int] = {}
        self._own_inboxes: set[str] = set()
        self._announced = 0.0
        self._seen_flush = -1
        self._verified_failures = 0
        self._housekeeper: threading.Thread | None = None
        self._housekeeper_lock = threading.Lock()
        self._stop = threading.Event()
        self._retention_ms = str(int(max(2 * self.expiry, 600) * 1000))

    # -- topics ---------------------------------------------------------------------------------

    def _topic_spec(self, partitions: int = 1) -> dict[str, Any]:
        return {
            "partitions": partitions,
            "replication": self.replication_factor,
            "configs": {"retention.ms": self._retention_ms, "cleanup.policy": "delete"},
        }

    def _ensure(self, topics: Iterable[str]) -> None:
        specs = {}
        for topic in topics:
            if topic == self._names.single_reader:
                specs[topic] = self._topic_spec(self.single_reader_partitions)
            else:
                specs[topic] = self._topic_spec()
        self._client.ensure_topics(specs)

    def _produce(self, records: list[Record]) -> list[int]:
        """Produce (creating missing topics; once more if the broker lost them)."""
        self._ensure({record[0] for record in records})
        try:
            return self._client.produce_many(records)
        except TopicMissing:
            self._ensure({record[0] for record in records})
            return self._client.produce_many(records)

    def _flush_mark(self, topic: str, partition: int = 0) -> int:
        return self._control.mark(topic, partition)

    # -- send -----------------------------------------------------------------------------------

    def _channel_in_use(self, name: str) -> bool:
        # Every name new_channel hands out (sync or async) passes here: note this object's
        # inboxes (announced as live by the housekeeping thread, started for the first one).
        if "!" in name:
            self._own_inboxes.add(inbox_name(name))
            self._start_housekeeping()
        return False  # names carry 12 random characters from the OS: a repeat is not a risk

    async def _channel_in_use_async(self, name: str) -> bool:
        return self._channel_in_use(name)  # no I/O: names only noted here

    def _send(self, channel: str, payload: bytes) -> None:
        record = self._send_record(channel, payload, io=True)
        assert record is not None  # with io, the capacity check always decides
        offset = None
        try:
            (offset,) = self._produce([record])
        finally:
            self._sent(channel, offset)

    async def _send_async(self, channel: str, payload: bytes) -> None:
        # Usually decided from this object's counts: the record goes to the producer and the
        # loop awaits its ack. A send that needs a round trip first (a capacity recount, a
        # topic or producer not set up yet) runs whole on a worker thread.
        if self._client.can_produce_now([self._topic_of(channel)]):
            record = self._send_record(channel, payload, io=False)
            if record is not None:
                offset = None
                try:
                    (offset,) = await self._client.produce_many_async([record])
                    return
                except TopicMissing:  # refused, nothing appended: create the topic, send again
                    pass
                finally:
                    self._sent(channel, offset)
        await self._io_async(self._send, channel, payload)

    def _topic_of(self, channel: str) -> str:
        if "?" in channel:
            return str(self._single_tp(channel).topic)
        return self._names.queue(inbox_name(channel))

    def _send_record(self, channel: str, payload: bytes, io: bool) -> Record | None:
        """The record a send of ``payload`` to ``channel`` appends, once its capacity check
        passed (``ChannelFull`` if not); None if that check needs a broker round trip and
        ``io`` is false."""
        now_ms = int(time.time() * 1000)
        if "?" in channel:
            if not self._check_single_room(channel, io):
                return None
            tp = self._single_tp(channel)
            return (tp.topic, payload, channel.encode("ascii"), tp.partition, now_ms)
        queue = inbox_name(channel)
        topic = self._names.queue(queue)
        if not self._check_room(queue, topic, io):
            return None
        key = channel.encode("ascii") if queue[-1] == "!" else None
        return (topic, payload, key, 0, now_ms)

    def _sent(self, channel: str, offset: int | None) -> None:
        """Settle a send that passed its capacity check: acknowledged at ``offset``, or
        failed (None). ``?`` channels count their pending messages by offset; other
        channels counted it in :meth:`_check_room` and only stop counting it as in flight."""
        if "?" in channel:
            if offset is not None:
                self._note_single_sent(channel, offset)
        else:
            with self._counting:
                self._counts[inbox_name(channel)].settled += 1

    def _refuse(self, queue: str) -> ChannelFull:
        self._full[queue] = self._full.get(queue, 0) + 1
        self._full_total += 1
        return ChannelFull(f"channel {queue!r} is at its capacity ({self.capacity_for(queue)})")

    def _check_room(self, queue: str, topic: str, io: bool = True) -> bool:
        """Raise ChannelFull if ``queue`` is at capacity, else count the message about to be
        sent and return True; False (undecided) if this object's running count is stale and
        ``io`` is false (recounting takes two round trips).

        A message counts from its check on, before its ack, so concurrent sends of this
        object see each other; a recount adds the sends not settled when it began (those
        the broker already holds may count twice: never under capacity's bound)."""
        capacity = self.capacity_for(queue)
        count = self._counts.get(queue) or self._counts.setdefault(queue, _SendCount())
        now = time.monotonic()
        with self._counting:
            if count.pending < capacity and now - count.counted_at < self.capacity_refresh:
                count.reserve()
                return True
            if not io:
                return False
            settled = count.settled
        pending = self._pending({queue: topic})[queue]
        with self._counting:
            count.pending = pending + count.reserved - settled
            count.counted_at = now
            if count.pending >= capacity:
                raise self._refuse(queue)
            count.reserve()
        return True

    def _group_of(self, queue: str, topic: str) -> str:
        return f"{self._names.base}-i" if queue[-1] == "!" else topic

    def _pending(self, queues: Mapping[str, str]) -> dict[str, int]:
        """Exact pending counts of normal channels and inboxes (queue -> topic): the lag of
        the reading group (end offset - committed offset) plus what this process took but did
        not hand out yet. Two round trips whatever the number of queues."""
        self._ensure(queues.values())
        tps = {queue: TopicPartition(topic, 0) for queue, topic in queues.items()}
        ends = self._client.end_offsets(list(tps.values()))
        groups: dict[str, list[Any]] = {}
        for queue, tp in tps.items():
            groups.setdefault(self._group_of(queue, tp.topic), []).append(tp)
        committed = self._client.committed(groups)
        self._control.sync(max_age=self.capacity_refresh)
        never_read = [
            tp
            for queue, tp in tps.items()
            if committed.get(self._group_of(queue, tp.topic), {}).get(tp, -1) < 0
        ]
        fresh: dict[Any, int | None] = {}
        if never_read:
            since = int((time.time() - self.expiry) * 1000)
            fresh = self._client.offsets_for_times({tp: since for tp in never_read})
        pending = {}
        for queue, tp in tps.items():
            end = ends.get(tp, 0)
            low = committed.get(self._group_of(queue, tp.topic), {}).get(tp, -1)
            if low < 0:
                first = fresh.get(tp)
                low = end if first is None else first
            reader = self._readers.get(queue)
            here = reader.hand_out_position() if reader is not None else None
            if here is not None:  # this process reads it: its own position is exact
                low = here
            low = max(low, self._control.mark(tp.topic))
            pending[queue] = max(0, end - low)
        return pending

    # -- ? channels -----------------------------------------------------------------------------

    def _single_tp(self, channel: str) -> Any:
        tp = self._single_tps.get(channel)
        if tp is None:
            if len(self._single_tps) > 65536:
                self._single_tps.clear()
            tp = self._single_tps[channel] = TopicPartition(
                self._names.single_reader, partition_of(channel, self.single_reader_partitions)
            )
        return tp

    def _single_position(self, channel: str) -> int:
        """The committed read position of a ``?`` channel (-1 if never read)."""
        group = self._names.single_reader_group(channel)
        tp = self._single_tp(channel)
        return self._client.committed({group: [tp]}).get(group, {}).get(tp, -1)

    def _check_single_room(self, channel: str, io: bool = True) -> bool:
        """Capacity of a ``?`` channel: this object's own sends past the reader's position
        (exact with one sender; see the package docstring). Raise ChannelFull if full; True
        once decided, False (undecided) if the reader's position must be read and ``io`` is
        false."""
        capacity = self.capacity_for(channel)
        sent = self._single_sent.get(channel)
        if sent is None:
            return True
        cutoff = time.monotonic() - self.expiry
        while sent and sent[0][1] <= cutoff:
            sent.popleft()
        if len(sent) < capacity:
            return True
        if not io:
            return False
        position = self._single_position(channel)
        while sent and sent[0][0] < position:
            sent.popleft()
        if len(sent) >= capacity:
            raise self._refuse(channel)
        return True

    def _note_single_sent(self, channel: str, offset: int) -> None:
        sent = self._single_sent.get(channel)
        if sent is None:
            if len(self._single_sent) > 65536:
                self._single_sent.clear()
            sent = self._single_sent[channel] = deque()
        sent.append((offset, time.monotonic()))
        self._sent_singles[channel] = self._sent_singles.get(channel, 0) + 1

    # -- receive --------------------------------------------------------------------------------

    def _reader(self, channel: str) -> GroupReader:
        reader = self._readers.get(channel)
        if reader is None or not reader.alive:
            with self._readers_lock:
                reader = self._readers.get(channel)
                if reader is None or not reader.alive:
                    if reader is not None and reader.error is not None:
                        error = reader.error
                        del self._readers[channel]
                        raise self._client.error(error, f"reading {channel!r}")
                    topic = self._names.queue(channel)
                    self._ensure([topic])
                    self._control.sync()
                    reader = GroupReader(
                        self._client,
                        topic,
                        topic,
                        max(1, min(self.commit_batch, self.capacity_for(channel) // 2)),
                        {
                            **self._consumer_options,
                            "session_timeout_ms": self.session_timeout_ms,
                            "heartbeat_interval_ms": self.heartbeat_interval_ms,
                            # the rebalance timeout: how long a join waits for members that
                            # went silent (the reader thread polls at least every commit)
                            "max_poll_interval_ms": max(
                                2 * self.session_timeout_ms, int(4000 * self.request_timeout)
                            ),
                        },
                        self._flush_mark,
                        self._arrived,
                    )
                    self._readers[channel] = reader
                    self._start_housekeeping()
        return reader

    def _register(self, channels: list[str]) -> None:
        """Make sure a reader exists for each asked channel."""
        log = self._log_reader
        for name in channels:
            if name[-1] == "!":
                topic = self._names.queue(name)
                tp = TopicPartition(topic, 0)
                if tp not in log.inboxes:
                    self._ensure([topic])
                    group = f"{self._names.base}-i"
                    start = self._client.committed({group: [tp]}).get(group, {}).get(tp, -1)
                    log.add_inbox(tp, name, max(start, 0))
                    self._start_housekeeping()
            elif "?" in name:
                if name not in log.singles:
                    tp = self._single_tp(name)
                    self._ensure([tp.topic])
                    start = self._single_position(name)
                    if start < 0:
                        since = int((time.time() - self.expiry) * 1000)
                        found = self._client.offsets_for_times({tp: since}).get(tp)
                        start = found if found is not None else self._client.end_offsets([tp])[tp]
                    log.add_single(name, tp, start)
                    self._start_housekeeping()
            else:
                self._reader(name)

    def _drop_taken(self) -> None:
        """Forget what this object took but did not hand out before the last flush mark."""
        self._inbox.clear()
        self._log_reader.drop_flushed(self._flush_mark)
        for reader in list(self._readers.values()):
            reader.drop_flushed(self._flush_mark(reader.topic))

    def _take(self, channels: list[str], expired: set[str] | None = None) -> RawReceived:
        """A message already taken locally for one of ``channels`` (in their order). Normal
        channels whose records expired are evicted from their groups, or added to
        ``expired`` if given (the caller evicts them)."""
        control = self._control
        if self._housekeeper is None:  # no background sync yet: catch up here
            control.sync(max_age=FLUSH_VISIBILITY)
        if control.flush_offset != self._seen_flush:
            self._seen_flush = control.flush_offset
            self._drop_taken()
        now = time.time()
        for name in channels:
            if name[-1] == "!":
                taken = self._inbox.take(name)
                if taken is not None:
                    return taken
            elif "?" in name:
                while True:
                    record = self._log_reader.take_single(name)
                    if record is None:
                        break
                    tp = self._single_tp(name)
                    try:
                        self._log_reader.commit_single(
                            self._names.single_reader_group(name), tp, record.offset + 1
                        )
                    except LayerUnavailable:
                        self._log_reader.put_back_single(name, record)
                        raise
                    if record.offset < self._control.mark(tp.topic, tp.partition):
                        continue
                    if record.timestamp / 1000 + self.expiry <= now:
                        self._evict([name])
                        continue
                    return name, record.value
            else:
                reader = self._readers.get(name)
                if reader is None:
                    continue
                while True:
                    record = reader.take()
                    if record is None:
                        break
                    if record.timestamp / 1000 + self.expiry <= now:
                        if expired is None:
                            self._evict([name])
                        else:
                            expired.add(name)
                        continue
                    return name, record.value
        return None

    async def _receive_async(self, channels: list[str]) -> RawReceived:
        # Channels this object already reads (their readers run, the control topic is
        # followed, no failure to recheck) are served on the loop: what the readers hold is
        # taken, and the loop waits for their arrivals. A first read, ``?`` channels (a
        # hand-out commits first: a round trip) and a recheck after a failure go to a worker
        # thread as the blocking receive.
        if (
            self._housekeeper is None
            or self._client.failures != self._verified_failures
            or not all(map(self._reading, channels))
        ):
            return await super()._receive_async(channels)
        deadline = time.monotonic() + self.blocking_timeout
        while True:
            woken = self._arrived.waiter()  # before the take: no arrival slips between
            try:
                expired: set[str] = set()
                taken = self._take(channels, expired)
                if expired:
                    await self._io_async(self._evict, expired)
                if taken is not None:
                    return taken
                self._check_readers(channels)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.1)):
                        await woken
            finally:
                self._arrived.forget(woken)

    def _reading(self, name: str) -> bool:
        """Whether this object's readers already follow ``name`` (not a ``?`` channel)."""
        if name[-1] == "!":
            return TopicPartition(self._names.queue(name), 0) in self._log_reader.inboxes
        if "?" in name:
            return False
        reader = self._readers.get(name)
        return reader is not None and reader.alive and reader.error is None

    def _joining(self, channels: list[str]) -> bool:
        """Whether the reader of a listed normal channel has not joined its group yet."""
        readers = (self._readers.get(name) for name in channels)
        return any(reader is not None and not reader.joined.is_set() for reader in readers)

    def _lagging(
        self, channels: list[str], ends: Mapping[Any, int], nothing_pending: Set[str]
    ) -> bool:
        """Whether some reader has not yet fetched (and taken) up to ``ends``, or is joining
        its channel's group (and may own the channel once joined); channels in
        ``nothing_pending`` had nothing to hand out when the receive began."""
        log = self._log_reader
        for name in channels:
            if name in nothing_pending:
                continue
            if name[-1] == "!":
                tp = TopicPartition(self._names.queue(name), 0)
                if log.fetched_to.get(tp, 0) < ends.get(tp, 0):
                    return True
            elif "?" in name:
                single = log.singles.get(name)
                if single is not None and single.scanned_to < ends.get(single.tp, 0):
                    return True
            else:
                reader = self._readers.get(name)
                if reader is not None and reader.catching_up(ends.get(reader.tp, 0)):
                    return True
        return False

    def _catch_up(self, channels: list[str]) -> RawReceived:
        """Wait (bounded) until the readers hold everything the broker had for ``channels``
        when this call started: a message whose send returned is visible to a non-blocking
        receive. A normal channel whose reader has not joined its group yet is first checked
        for pending records (the group's lag, two round trips): with none, there is nothing
        to make visible and the receive does not wait for the join. The readers of the other
        listed normal channels join their groups first (within ``join_timeout``); then one
        ListOffsets round trip and local waits, also while a reader rejoins (a rebalance under
        way: a member whose session lapsed under load), within ``request_timeout`` more."""
        if self._client.failures != self._verified_failures:
            self._verify_positions()
        joining = {
            name: self._readers[name].topic
            for name in channels
            if name[-1] != "!" and "?" not in name and not self._readers[name].joined.is_set()
        }
        pending = self._pending(joining) if joining else {}
        nothing_pending = {name for name, count in pending.items() if count == 0}
        join_deadline = time.monotonic() + self.join_timeout
        deadline = join_deadline + self.request_timeout
        tps: list[Any] = []
        for name in channels:
            if name[-1] == "!":
                tps.append(TopicPartition(self._names.queue(name), 0))
            elif "?" in name:
                tps.append(self._single_tp(name))
            elif name not in nothing_pending:
                reader = self._readers[name]
                # every listed channel with records joins before anything is handed out, so
                # a busy channel whose reader joined first does not starve a quiet one
                reader.joined.wait(max(0.0, join_deadline - time.monotonic()))
                tps.append(reader.tp)
        self._check_readers(channels)
        ends = self._client.end_offsets(tps)
        while True:
            taken = self._take(channels)
            if taken is not None or not self._lagging(channels, ends, nothing_pending):
                return taken
            if time.monotonic() > deadline or self._closed:
                return None
            self._check_readers(channels)
            with self._arrived:
                self._arrived.wait(0.05)

    def _verify_positions(self) -> None:
        """After a failed call: a broker that came back without its data (a restarted memory
        broker) has no committed offsets for the inboxes this object was reading; read them
        again from their start. (A broker that kept its data keeps its offsets. Group readers
        need nothing: their consumer rejoins, and a group without committed offsets starts at
        the log's start.)"""
        failures = self._client.failures
        inbox_group = f"{self._names.base}-i"
        log = self._log_reader
        inboxes = [tp for tp in log.inboxes if log.fetched_to.get(tp, 0) > 0]
        if inboxes:
            committed = self._client.committed({inbox_group: inboxes}).get(inbox_group, {})
            log.rewind([tp for tp in inboxes if committed.get(tp, -1) < 0])
        self._verified_failures = failures

    def _check_readers(self, channels: list[str]) -> None:
        error = self._log_reader.error
        if error is not None:
            raise self._client.error(error, "reading inboxes")
        for name in channels:
            reader = self._readers.get(name)
            if reader is not None and reader.error is not None:
                self._reader(name)  # raises, and the next receive starts a new reader

    def _receive(self, channels: list[str], block: bool) -> RawReceived:
        self._register(channels)
        # What the broker already holds is returned now (visibility), then a blocking receive
        # waits for the readers, which fetch continuously and notify.
        taken = self._take(channels) or self._catch_up(channels)
        if taken is not None or not block:
            return taken
        # A receive that began while a reader was joining ends with a catch-up: a record sent
        # meanwhile is handed out once the join completes and it is fetched (the catch-up
        # waits for the joins of channels with pending records only).
        joining = self._joining(channels)
        deadline = time.monotonic() + self.blocking_timeout
        while not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._catch_up(channels) if joining else None
            with self._arrived:
                self._arrived.wait(min(remaining, 0.1))
            taken = self._take(channels)
            if taken is not None:
                return taken
            self._check_readers(channels)
        return None

    # -- groups ---------------------------------------------------------------------------------

    def _write_control(self, items: Sequence[tuple[bytes, bytes | None]]) -> None:
        self._control.write(list(items))

    def _group_add(self, group: str, channel: str) -> None:
        self._control.sync(max_age=self.capacity_refresh)
        self._write_control([(membership_key(group, channel), pack(time.time()))])

    def _group_discard(self, group: str, channel: str) -> None:
        self._control.sync(max_age=self.capacity_refresh)
        self._write_control([(membership_key(group, channel), None)])

    def _evict(self, channels: Iterable[str]) -> None:
        """Remove channels whose messages expired unread from all their groups."""
        items = [(eviction_key(channel), pack(time.time())) for channel in set(channels)]
        if items:
            self._write_control(items)

    def _live_members(self, group: str) -> list[str]:
        self._control.sync()
        now = time.time()
        members = self._control.members(group, now, self.group_expiry)
        dead = self._control.dead_clients(now, 3 * self.liveness_interval)
        if not dead:
            return members
        live: list[str] = []
        gone: list[str] = []
        for member in members:
            (gone if _owner_of(member) in dead else live).append(member)
        if gone:
            self._evict(gone)
        return live

    def _group_channels(self, group: str) -> list[str]:
        return self._live_members(group)

    def _send_group(self, group: str, payload: bytes) -> None:
        members = self._live_members(group)
        if not members:
            return
        now_ms = int(time.time() * 1000)
        inboxes: dict[str, list[str]] = {}
        queues: dict[str, str] = {}
        singles: list[str] = []
        for member in members:
            if "?" in member:
                singles.append(member)
            elif "!" in member:
                inboxes.setdefault(inbox_name(member), []).append(member)
            else:
                queues[member] = self._names.queue(member)
        for inbox in inboxes:
            queues[inbox] = self._names.queue(inbox)
        pending = self._pending(queues) if queues else {}
        records: list[Record] = []
        for queue, topic in queues.items():
            if pending[queue] >= self.capacity_for(queue):
                self._refuse(queue)
                continue
            key = entry_address(inboxes[queue]).encode("ascii") if queue in inboxes else None
            records.append((topic, payload, key, 0, now_ms))
        for channel in singles:
            try:
                self._check_single_room(channel)
            except ChannelFull:
                continue
            tp = self._single_tp(channel)
            records.append((tp.topic, payload, channel.encode("ascii"), tp.partition, now_ms))
        if records:
            offsets = self._produce(records)  # one batched request per broker
            for record, offset in zip(records, offsets, strict=True):
                if record[0] == self._names.single_reader and record[2] is not None:
                    self._note_single_sent(record[2].decode("ascii"), offset)

    # -- flush, statistics ----------------------------------------------------------------------

    def _flush(self) -> None:
        for count in self._counts.values():
            count.counted_at = -math.inf  # recount at the next send
        self._single_sent.clear()
        topics = [
            topic
            for topic in self._client.list_topics()
            if self._names.owns(topic) and topic not in (self._names.control, self._names.sessions)
        ]
        tps = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in range(
                self.single_reader_partitions if topic == self._names.single_reader else 1
            )
        ]
        ends = self._client.end_offsets(tps)
        marks = {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}
        self._write_control([(FLUSH_KEY, pack(marks))])
        self._seen_flush = self._control.flush_offset
        self._drop_taken()

    def _queue_topics(self) -> dict[str, str]:
        """Every normal channel and inbox topic of this prefix on the broker, keyed so that
        :meth:`_pending` finds their reading group (inbox keys end with ``!``)."""
        found = {}
        base = self._names.starts
        for topic in self._client.list_topics():
            if self._names.owns(topic) and topic[len(base)] in "ci":
                found[topic + ("!" if topic[len(base)] == "i" else "")] = topic
        return found

    def _singles_pending(self) -> int:
        """Pending ``?`` messages this object sent (past their readers' positions)."""
        channels = [channel for channel, sent in self._single_sent.items() if sent]
        if not channels:
            return 0
        groups = {self._names.single_reader_group(c): [self._single_tp(c)] for c in channels}
        committed = self._client.committed(groups)
        total = 0
        for channel in channels:
            group = self._names.single_reader_group(channel)
            position = committed.get(group, {}).get(self._single_tp(channel), -1)
            total += sum(1 for offset, _ in self._single_sent[channel] if offset >= position)
        return total

    def _global_statistics(self) -> Statistics:
        topics = self._queue_topics()
        lags = self._pending(topics) if topics else {}
        ends = self._client.end_offsets([TopicPartition(t, 0) for t in topics.values()])
        taken = sum(reader.pending_here() for reader in list(self._readers.values()))
        return self._inbox.add_to_global(
            {
                "messages_count": sum(ends.values()) + sum(self._sent_singles.values()),
                "messages_pending": sum(lags.values())
                + taken
                + self._log_reader.pending_singles()
                + self._singles_pending(),
                "messages_max_age": self._max_age(None),
                "channel_full_count": self._full_total,
            }
        )

    def _channel_statistics(self, channel: str) -> Statistics:
        queue = inbox_name(channel)
        if "?" in channel:
            sent = self._single_sent.get(channel, deque())
            position = self._single_position(channel) if sent else -1
            return {
                "messages_count": self._sent_singles.get(channel, 0),
                "messages_pending": sum(1 for offset, _ in sent if offset >= position),
                "messages_max_age": 0.0,
                "channel_full_count": self._full.get(channel, 0),
            }
        topic = self._names.queue(queue)
        pending = self._pending({queue: topic})[queue]
        tp = TopicPartition(topic, 0)
        count = self._client.end_offsets([tp]).get(tp, 0)
        return self._inbox.add_to_channel(
            channel,
            {
                "messages_count": count,
                "messages_pending": pending,
                "messages_max_age": self._max_age(queue),
                "channel_full_count": self._full.get(queue, 0),
            },
        )

    def _max_age(self, queue: str | None) -> float:
        """Age of the oldest message this process took and holds (0 if none)."""
        now = time.time()
        oldest = now
        readers = [self._readers.get(queue)] if queue is not None else list(self._readers.values())
        for reader in readers:
            if reader is not None and reader.ready:
                oldest = min(oldest, reader.ready[0].timestamp / 1000)
        return max(0.0, now - oldest)

    # -- housekeeping ---------------------------------------------------------------------------

    def _start_housekeeping(self) -> None:
        """Start the housekeeping thread once, whichever threads ask for it at the same time."""
        if self._housekeeper is None:
            with self._housekeeper_lock:
                if self._housekeeper is None:
                    thread = threading.Thread(
                        target=self._housekeeping,
                        name=f"kafka-layer-housekeeping-{self.client_id}",
                        daemon=True,
                    )
                    thread.start()
                    self._housekeeper = thread

    def _housekeeping(self) -> None:
        due = 0.0
        while not self._stop.wait(FLUSH_VISIBILITY):
            try:
                self._control.sync(max_age=FLUSH_VISIBILITY / 2)
                if time.monotonic() < due:
                    continue
                due = time.monotonic() + HOUSEKEEPING_INTERVAL
                self._housekeeping_pass()
            except LayerUnavailable as error:
                logger.warning("Kafka layer housekeeping: %s", error)
            except Exception:
                logger.exception("Kafka layer housekeeping failed")

    def _housekeeping_pass(self) -> None:
        now = time.monotonic()
        expired = set(self._inbox.expired_channels())
        expired.update(self._log_reader.expired_names)
        self._log_reader.expired_names.clear()
        if expired:
            self._evict(expired)
        for channel, reader in list(self._readers.items()):
            if now - reader.last_asked > self.reader_idle:
                with self._readers_lock:
                    self._readers.pop(channel, None)
                reader.stop()
        self._log_reader.forget_idle_singles(now)
        if self._own_inboxes and now - self._announced >= self.liveness_interval:
            self._announced = now
            self._write_control([(liveness_key(self.client_id), pack(time.time()))])

    # -- sessions and close ---------------------------------------------------------------------

    def _make_session_store(self) -> SessionStore:
        from .sessions import KafkaSessionStore

        return KafkaSessionStore(
            self._client, self._names.sessions, self.cipher, self.message_size_limit
        )

    def _close(self) -> None:
        self._stop.set()
        if self._housekeeper is not None:
            self._housekeeper.join(5)
        for reader in list(self._readers.values()):
            reader.stop()
        self._readers.clear()
        self._log_reader.stop()
        self._inbox.clear()
        try:
            if self._announced:
                self._write_control([(liveness_key(self.client_id), None)])
            own = [self._names.queue(inbox) for inbox in self._own_inboxes]
            self._client.delete_topics(own)
        except LayerUnavailable as error:
            logger.warning("closing the Kafka layer: %s", error)
        self._control.close()
        self._client.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.describe()} prefix={self.prefix!r}>"


class Arrivals(threading.Condition):
    """The readers' "something arrived" signal: wakes threads waiting on the condition and
    the event loops awaiting a :meth:`waiter` (notify with the condition held)."""

    def __init__(self) -> None:
        super().__init__()
        self._loop_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    def notify_all(self) -> None:
        super().notify_all()
        for loop, future in self._loop_waiters:
            loop.call_soon_threadsafe(_wake, future)

    def waiter(self) -> asyncio.Future[None]:
        """A future of the running loop, resolved by the next notification."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self:
            self._loop_waiters.add((loop, future))
        return future

    def forget(self, future: asyncio.Future[None]) -> None:
        with self:
            self._loop_waiters.discard((future.get_loop(), future))


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass
class _SendCount:
    """This object's running pending count of one queue (exact at ``counted_at``, plus its
    sends since), and its sends that passed the capacity check, ever and settled."""

    pending: int = 0
    counted_at: float = -math.inf
    reserved: int = 0
    settled: int = 0  # acknowledged or failed

    def reserve(self) -> None:
        self.pending += 1
        self.reserved += 1


def _owner_of(member: str) -> str | None:
    """The client id in a ``new_channel``-made ``!`` name (``ws.send.<client_id>!x``)."""
    bang = member.find("!")
    if bang < 0:
        return None
    head = member[:bang].rsplit(".", 1)[-1]
    return head if len(head) == TOKEN_LENGTH else None
