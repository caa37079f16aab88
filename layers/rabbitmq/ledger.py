"""The ledger: what a prefix holds on the broker, kept in one queue because AMQP cannot list.

AMQP 0-9-1 has no way to list queues, exchanges or bindings. So every layer object of a
prefix appends a small record to the prefix's ledger queue when it declares something or
changes a group:

``q`` name
    a queue of the prefix was declared (re-recorded while in use, so the record outlives
    the queue's idle expiry); ``flush`` deletes every queue named here.
``x`` name
    a group's fanout exchange was declared.
``a`` group, channel
    ``group_add``: membership until ``t + l`` (``l`` = ``group_expiry``).
``d`` group, channel
    ``group_discard`` at ``t``: cancels older ``a`` records of that membership.
``e`` channel
    a message of ``channel`` expired unread at ``t``: cancels older ``a`` records of
    that channel in every group.
``m`` token
    a reader's end marker (see below).

Records are msgpack maps (the message codec; never pickle). Dead ones (lapsed, superseded,
cancelled) are deleted by the next read.

Reading is serialized and complete. A reader takes the ledger's *lock* (an **exclusive**
consumer on the empty ``<ledger>.lock`` queue, on a channel of its own: a second reader is
refused and retries), appends its own marker, consumes the ledger on that channel up to its
marker, and acknowledges (deletes) the records that are dead or superseded. Before it lets go
of the lock it gives every other record back, in place: it cancels its ledger consumer, rejects
what it holds with requeue, and waits for a round trip through the queue (a passive declare,
answered after the requeue). Only then does it close the channel, which releases the lock. So
a read sees everything appended before it started, and compacts the ledger as it goes.

Closing the channel alone would not do: the broker requeues the unacknowledged records of a
closed channel whose consumers were cancelled (pika cancels them before it closes) only when
the channel's process has ended, after it confirmed the close; a reader that took the ledger
in between got its own marker first and nothing else (``group_channels`` answered ``[]``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from channels_core import codec

from .connection import (
    ACCESS_REFUSED,
    CHANNEL_ERRORS,
    CONNECTION_ERRORS,
    NOT_FOUND,
    RESOURCE_LOCKED,
    Link,
    Unroutable,
    properties,
    reply_code,
)

#: Longest a reader waits for another reader to finish, then for its own marker (seconds).
READ_TIMEOUT = 10.0
#: A marker older than this belongs to a reader that died: it is dropped.
STALE_MARKER = 60.0
RECORD_LIMIT = 64 * 1024

#: Declares a queue of the ledger (the ledger or its lock) on a channel.
Declare = Callable[[Any, str], None]


def encode(kind: str, name: str, group: str = "", lapse: float = 0.0) -> bytes:
    record = {"k": kind, "n": name, "g": group, "t": time.time(), "l": lapse}
    return codec.encode(record, RECORD_LIMIT)


@dataclass
class Record:
    tag: int
    kind: str
    name: str
    group: str
    at: float
    lapse: float

    @classmethod
    def parse(cls, tag: int, body: bytes) -> Record | None:
        try:
            data = codec.decode(body)
            return cls(
                tag,
                str(data["k"]),
                str(data["n"]),
                str(data.get("g", "")),
                float(data["t"]),
                float(data.get("l", 0.0)),
            )
        except Exception:  # a record written by something else: dropped by the reader
            return None


@dataclass
class Snapshot:
    """What one read of the ledger found, and which records it deletes."""

    queues: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)
    #: group -> channel -> when its membership lapses (live memberships only)
    members: dict[str, dict[str, float]] = field(default_factory=dict)
    #: (group, channel) memberships that ended since the last read (lapsed, discarded or
    #: evicted): the reader removes their bindings.
    ended: set[tuple[str, str]] = field(default_factory=set)
    #: the earliest lapse among live memberships (when a reader must look again)
    next_lapse: float = float("inf")
    delete: list[int] = field(default_factory=list)


def settle(records: Iterable[Record], evicted: Iterable[str], now: float) -> Snapshot:
    """The live state of the ledger, and the tags of dead or superseded records.

    ``evicted`` are channels whose messages expired unread (from the dead-letter queue):
    their memberships end now.
    """
    snapshot = Snapshot()
    latest_named: dict[tuple[str, str], Record] = {}
    adds: dict[tuple[str, str], list[Record]] = {}
    discards: dict[tuple[str, str], list[Record]] = {}
    evictions: dict[str, list[Record]] = {}
    for record in records:
        if record.kind in ("q", "x"):
            key = (record.kind, record.name)
            previous = latest_named.get(key)
            if previous is None or previous.at <= record.at:
                if previous is not None:
                    snapshot.delete.append(previous.tag)
                latest_named[key] = record
            else:
                snapshot.delete.append(record.tag)
        elif record.kind == "a":
            adds.setdefault((record.group, record.name), []).append(record)
        elif record.kind == "d":
            discards.setdefault((record.group, record.name), []).append(record)
        elif record.kind == "e":
            evictions.setdefault(record.name, []).append(record)
        elif record.kind == "m" and record.at + STALE_MARKER < now:
            snapshot.delete.append(record.tag)
    for (kind, name), record in latest_named.items():
        if record.at + record.lapse < now:
            snapshot.delete.append(record.tag)
        else:
            (snapshot.queues if kind == "q" else snapshot.exchanges).add(name)
    evicted_now = set(evicted)
    for key, records in adds.items():
        group, channel = key
        latest = max(records, key=lambda r: r.at)
        ended_at = max(
            [r.at for r in discards.get(key, ())] + [r.at for r in evictions.get(channel, ())],
            default=-1.0,
        )
        alive = latest.at > ended_at and latest.at + latest.lapse > now
        alive = alive and channel not in evicted_now
        snapshot.delete.extend(r.tag for r in records if r is not latest or not alive)
        if alive:
            lapse_at = latest.at + latest.lapse
            snapshot.members.setdefault(group, {})[channel] = lapse_at
            snapshot.next_lapse = min(snapshot.next_lapse, lapse_at)
        else:
            snapshot.ended.add(key)
    # Discards and evictions have done their work once the adds they cancel are deleted.
    for records in discards.values():
        snapshot.delete.extend(r.tag for r in records)
    for records in evictions.values():
        snapshot.delete.extend(r.tag for r in records)
    return snapshot


def lock_of(ledger: str) -> str:
    """The queue whose exclusive consumer is the ledger's read lock."""
    return ledger + ".lock"


def append(link: Link, ledger: str, body: bytes, declare: Declare) -> None:
    """Publish one record (confirmed); declares the ledger if it does not exist."""

    def publish(channel: Any) -> None:
        channel.basic_publish(
            "",
            ledger,
            body,
            properties(delivery_mode=1),
            mandatory=True,
        )

    try:
        link.run(publish, applies=True)
    except Unroutable:
        link.run(lambda channel: declare(channel, ledger))
        link.run(publish, applies=True)


class Reading:
    """One read of the ledger, under its lock: every record appended before the read began
    (:attr:`records`), and :meth:`delete` to remove some of them."""

    def __init__(self, channel: Any, records: list[Record]) -> None:
        self._channel = channel
        self.records = records

    def delete(self, tags: Iterable[int]) -> None:
        for tag in tags:
            self._channel.basic_ack(tag)


@contextmanager
def read(link: Link, ledger: str, declare: Declare) -> Iterator[Reading]:
    """Read the whole ledger under its lock (see the module docstring). On leaving the block,
    the records not deleted are back in the ledger, in place, before the lock is released."""
    deadline = time.monotonic() + READ_TIMEOUT
    channel = _lock(link, ledger, declare, deadline)
    try:
        token = os.urandom(8).hex()
        append(link, ledger, encode("m", token), declare)
        reader = _Reader(channel, token)
        try:
            with link.deadline():
                tag = channel.basic_consume(ledger, reader.collect, auto_ack=False)
            while not reader.done:
                if time.monotonic() > deadline:
                    raise link.error(f"the ledger {ledger!r} did not return its end marker")
                link.connection.process_data_events(0.05)
        except CONNECTION_ERRORS as error:
            raise link.failed(error) from None
        try:
            yield Reading(channel, reader.records)
        finally:
            _give_back(link, channel, tag, ledger)
    finally:
        close_quietly(channel)  # releases the lock


def _lock(link: Link, ledger: str, declare: Declare, deadline: float) -> Any:
    """A new channel holding the ledger's lock (waits while another reader holds it)."""
    lock = lock_of(ledger)
    pause = 0.01
    while True:
        channel = link.new_channel()
        try:
            with link.deadline():
                channel.basic_consume(lock, _no_message, auto_ack=True, exclusive=True)
            return channel
        except CHANNEL_ERRORS as error:  # the broker closed the channel
            code = reply_code(error)
            if code not in (NOT_FOUND, ACCESS_REFUSED, RESOURCE_LOCKED):
                raise
        except CONNECTION_ERRORS as error:
            raise link.failed(error) from None
        if time.monotonic() > deadline:
            raise link.error(f"the ledger {ledger!r} stayed locked by another reader")
        if code == NOT_FOUND:  # first read of the prefix, or after a flush
            link.run(lambda ch: declare(ch, lock))
            continue
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _give_back(link: Link, channel: Any, tag: str, ledger: str) -> None:
    """Return every record ``channel`` holds to the ledger, in place, and wait until the
    broker has: no consumer left to redeliver to, a reject of all outstanding deliveries
    (tag 0, multiple) with requeue, then a round trip through the queue."""
    try:
        with link.deadline():
            channel.basic_cancel(tag)
            channel.basic_nack(0, multiple=True, requeue=True)
            channel.queue_declare(ledger, passive=True)
    except CHANNEL_ERRORS:  # the channel is gone (the ledger was deleted): nothing held
        pass
    except CONNECTION_ERRORS as error:
        raise link.failed(error) from None


def _no_message(*_args: Any) -> None:
    """The lock queue stays empty: nothing to do with what it would deliver."""


class _Reader:
    """Collects the records delivered to one ledger read, up to its own marker."""

    def __init__(self, channel: Any, token: str) -> None:
        self.channel = channel
        self.token = token
        self.records: list[Record] = []
        self.done = False

    def collect(self, _ch: Any, method: Any, _props: Any, body: bytes) -> None:
        record = Record.parse(method.delivery_tag, body)
        if record is None:  # not a record of ours: dropped
            self.channel.basic_ack(method.delivery_tag)
        elif record.kind == "m" and record.name == self.token:
            self.channel.basic_ack(method.delivery_tag)
            self.done = True
        else:
            self.records.append(record)


def close_quietly(channel: Any) -> None:
    try:
        if channel.is_open:
            channel.close()
    except Exception:
        pass
